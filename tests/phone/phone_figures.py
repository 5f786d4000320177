"""The audio figures the dev phone's tests measure, printed at the end of the run."""

from __future__ import annotations

FIGURES: dict[str, str] = {}
