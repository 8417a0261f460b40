"""Stop signals while a run is active, and the process facts a run records about itself.

A run that is killed cannot mark itself: :func:`segml.processes.process_tags` records on the
run the host, the process id and the process's start time, so a later run on the same host can
tell a run whose process is gone (marked FAILED as ``killed``) from one still working (left
alone), even after the process id was reused. SIGTERM (what ``kill``, a scheduler or a container stop sends) is
turned into :class:`Terminated` while a run is active (:func:`signals_raise`), so the run's
clean-up runs (FAILED state, withdrawn model versions, no half-written output) as it does for
Ctrl-C (``KeyboardInterrupt``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from segml.processes import host_name, process_alive, process_start_time, process_tags

__all__ = [
    "Terminated",
    "as_stop",
    "host_name",
    "process_alive",
    "process_start_time",
    "process_tags",
    "signals_held",
    "signals_raise",
    "stop_signal",
]


class Terminated(BaseException):  # like KeyboardInterrupt: not an Exception
    """The process received SIGTERM while a run was active."""

    def __init__(self, signum: int = signal.SIGTERM):
        self.signum = int(signum)
        super().__init__(f"terminated by {signal.Signals(signum).name}")


#: The stop signal received while :func:`signals_raise` was active (None: none).
_received: list[int] = []


def _raise_stop(signum: int, _frame: object) -> None:
    _received.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def stop_signal() -> int | None:
    """The SIGTERM or SIGINT received while :func:`signals_raise` was active, else None.

    A library running native code (DuckDB) may turn the exception the signal raised into its
    own ("Query interrupted"); this says what really happened.
    """
    return _received[-1] if _received else None


def as_stop(exc: BaseException) -> BaseException:
    """``exc``, or the :class:`Terminated` / ``KeyboardInterrupt`` a library turned into it."""
    signum = stop_signal()
    if signum is None or isinstance(exc, Terminated | KeyboardInterrupt):
        return exc
    stop = KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)
    stop.__cause__ = exc
    return stop


@contextmanager
def signals_raise() -> Iterator[None]:
    """While active, SIGTERM raises :class:`Terminated` and SIGINT ``KeyboardInterrupt``, and
    :func:`stop_signal` remembers which came (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def signals_held() -> Iterator[None]:
    """Ignore SIGTERM and SIGINT for a short clean-up that must not be cut in half."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
