"""The uvicorn server the `serve` command runs, with signal handling of our own."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

import uvicorn


class ReceptionistServer(uvicorn.Server):
    """uvicorn, but SIGTERM/SIGINT end the process with status 0 once shutdown is done.

    Stock uvicorn re-raises the captured signal after a graceful shutdown, so a deploy's
    SIGTERM would look like a crash (exit -15) to Fly and to process supervisors.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
