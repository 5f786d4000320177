"""Health and readiness endpoints over a real uvicorn server."""

from __future__ import annotations

import httpx
import pytest

from app.config import load_settings
from app.main import create_app
from tests.doubles.server import free_port, serve_app


async def test_healthz_and_readyz_with_a_reachable_database(db_url: str) -> None:
    app = create_app(load_settings(database_url=db_url, _env_file=None))
    async with serve_app(app) as srv, httpx.AsyncClient(base_url=srv.http_url) as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    dead = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    app = create_app(load_settings(database_url=dead, _env_file=None))
    async with serve_app(app) as srv, httpx.AsyncClient(base_url=srv.http_url) as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["reason"] == "database unreachable"


@pytest.mark.parametrize("path", ["/nope", "/twilio/nothing"])
async def test_unknown_paths_are_404(db_url: str, path: str) -> None:
    app = create_app(load_settings(database_url=db_url, _env_file=None))
    async with serve_app(app) as srv, httpx.AsyncClient(base_url=srv.http_url) as http:
        assert (await http.get(path)).status_code == 404
