"""The dev phone's tests report their audio figures (SNR, aliasing) at the end of the run."""

from __future__ import annotations

from typing import Any

from phone_figures import FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("dev phone audio")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
