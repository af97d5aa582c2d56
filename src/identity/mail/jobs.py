"""Mail is rendered and sent off the request path, by one background thread.

Two reasons. A request that mails (sign-up, reset) must cost the same whether or not the
address has an account, or its timing tells which addresses do; and an SMTP relay that is slow
must not hold a page. Jobs are submitted after the request's transaction has committed. A job
that fails is logged (without the message, which holds links) and not retried: the customer
asks again. A process that stops waits for the queue to empty.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)


class MailJobs:
    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="mail")
            future = self._executor.submit(self._run, job)
            self._pending.add(future)
        future.add_done_callback(self._done)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every job submitted so far has run (tests, ``/dev/mail``, shutdown)."""
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    @staticmethod
    def _run(job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as exc:  # a relay outage must not kill the thread
            log.error("mail could not be sent (%s)", type(exc).__name__)
