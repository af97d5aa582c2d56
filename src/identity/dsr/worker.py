"""Running due erasures in the background: a thread in each server process, as the outbox
and the audit sequencer have. The work is safe to run anywhere at once: each request is
executed in its own transaction, under a row lock that concurrent runs skip."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

log = logging.getLogger(__name__)


class DueRequests:
    def __init__(self, run: Callable[[], object], interval: timedelta) -> None:
        self._run_due = run
        self._interval = interval.total_seconds()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dsr", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_due()
            except Exception:  # the database may be briefly unavailable; keep the loop alive
                log.exception("running due data subject requests failed")
            self._stop.wait(self._interval)
