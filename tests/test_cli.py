"""`receptionist serve` as a subprocess on the embedded defaults; its data survives a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.config import FLY_WITHOUT_DATABASE
from tests.doubles.server import free_port


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TWILIO_"))}
    env.pop("DATABASE_URL", None)
    env.pop("FLY_APP_NAME", None)  # not on Fly: the embedded default is allowed
    env.update(PORT=str(port), DATA_DIR=str(data_dir), LOG_FORMAT="json")
    return env


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[str]]]]:
    procs: list[subprocess.Popen[str]] = []
    yield tmp_path / "data", procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _start(data_dir: Path, port: int, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=_env(data_dir, port),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _wait_ready(port: int, proc: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(
                    f"serve exited early: {proc.stdout.read() if proc.stdout else ''}"
                )
            try:
                response = await http.get(f"http://127.0.0.1:{port}/readyz")
                if response.status_code == 200:
                    return response
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("serve never became ready")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


async def _connect(data_dir: Path) -> asyncpg.Connection:
    # postmaster.pid line 5 is the Unix socket directory of the running server.
    socket_dir = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[4]
    return await asyncpg.connect(user="postgres", database="postgres", host=socket_dir)


async def test_serve_on_embedded_defaults_is_ready_and_keeps_data_across_restart(
    serve: tuple[Path, list[subprocess.Popen[str]]], tmp_path: Path
) -> None:
    data_dir, procs = serve
    port = free_port()
    procs.append(_start(data_dir, port, tmp_path))
    ready = await _wait_ready(port, procs[0])
    assert ready.json()["status"] == "ready"
    conn = await _connect(data_dir)
    try:
        await conn.execute("INSERT INTO calls (call_sid) VALUES ('CA_survivor')")
    finally:
        await conn.close()
    out = _stop(procs[0])
    assert "openai_api_key_missing" in out  # the missing key is warned about, not fatal
    assert not (data_dir / "postgres" / "postmaster.pid").exists()  # postgres stopped with us

    procs.append(_start(data_dir, port, tmp_path))
    await _wait_ready(port, procs[1])
    conn = await _connect(data_dir)
    try:
        assert await conn.fetchval("SELECT count(*) FROM calls WHERE call_sid = 'CA_survivor'") == 1
    finally:
        await conn.close()
    _stop(procs[1])


def _cli(tmp_path: Path, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`receptionist <command>` in a clean environment holding only `env`."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", command],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LOG_FORMAT": "json", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_on_fly_without_database_url_serve_and_migrate_refuse_with_one_line(
    tmp_path: Path, command: str
) -> None:
    data_dir = tmp_path / "data"
    proc = _cli(tmp_path, command, FLY_APP_NAME="rx-demo", DATA_DIR=str(data_dir))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"receptionist: {FLY_WITHOUT_DATABASE}"]
    assert not data_dir.exists()  # refused before any embedded PostgreSQL was started


def test_on_fly_an_explicit_setting_allows_the_embedded_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    proc = _cli(
        tmp_path,
        "migrate",
        FLY_APP_NAME="rx-demo",
        EMBEDDED_DATABASE_ON_FLY="yes",
        DATA_DIR=str(data_dir),
    )
    assert proc.returncode == 0, proc.stderr
    assert (data_dir / "postgres" / "PG_VERSION").exists()


def test_on_fly_with_database_url_migrate_runs(tmp_path: Path, db_url: str) -> None:
    proc = _cli(tmp_path, "migrate", FLY_APP_NAME="rx-demo", DATABASE_URL=db_url)
    assert proc.returncode == 0, proc.stderr
    assert FLY_WITHOUT_DATABASE not in proc.stderr
