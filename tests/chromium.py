"""Debian's headless Chromium for the browser tests (the console's and the dev phone's).

No browser is downloaded: Playwright drives the `chromium` package `.ci/run` installs. Where a
tool is missing the test is skipped, and fails under CI, which must have them all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless as root in a container, on a machine without network: no sandbox, no GPU, and no
# background traffic (updates, sync, QUIC probes) that would only fail.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# The microphone: no permission prompt, a fake device (reading a WAV when told which).
MICROPHONE_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
# What each tool is found as, and the Debian package that brings it.
TOOLS = {"chromium": (CHROMIUM, "chromium"), "espeak-ng": ("espeak-ng", "espeak-ng")}


def need(*tools: str) -> None:
    """Skip where a tool is missing; fail under CI (.ci/run installs Debian's packages)."""
    missing = [t for t in tools if not shutil.which(TOOLS[t][0]) and not Path(TOOLS[t][0]).exists()]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"missing {missing}: .ci/run installs Debian's packages")
        pytest.skip(f"missing {missing}: apt-get install {' '.join(TOOLS[t][1] for t in missing)}")


@contextlib.asynccontextmanager
async def launched(*extra_args: str) -> AsyncIterator[Browser]:
    """Headless Chromium with the common arguments and `extra_args`."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            await browser.close()
