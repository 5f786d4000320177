"""docs/operations.md and docs/grafana-dashboard.json name only metrics the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"receptionist_[a-z_]+")
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def exported() -> set[str]:
    """The families of app/metrics.py, and those app/metrics_endpoint.py reads at scrape time."""
    exposition = generate_latest(Metrics().registry).decode()
    names = {f.name for f in text_string_to_metric_families(exposition)}
    endpoint = (ROOT / "app" / "metrics_endpoint.py").read_text()
    names |= {"receptionist_" + n for n in re.findall(r'f"\{p\}_([a-z_]+)"', endpoint)}
    return names


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_the_dashboard_imports_and_queries_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20 and dashboard["templating"]["list"][0]["name"] == "app"
    used = {family(n) for expr in exprs for n in NAME.findall(expr)}
    assert used and used <= exported(), used - exported()
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for needed in ("turn latency", "spool", "dead letters", "notifications failed", "tool errors"):
        assert needed in titles


def test_the_operations_guide_names_exported_metrics_and_the_alerts() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    named = {family(n) for n in NAME.findall(guide)}
    assert named - {"receptionist_metrics"} <= exported(), named - exported()
    for alert in ("Spool growing", "Dead letters", "Notifications failing", "p90 turn latency"):
        assert f"| {alert}" in guide
    assert "histogram_quantile(0.9" in guide
