"""Which process made a run or a temporary folder, whether it still lives, and signals.

A run that is killed cannot mark itself: :func:`process_tags` records on the run the host, the
process id and the process's start time, so a later run on the same host can tell a run whose
process is gone (marked FAILED as ``killed``) from one still working (left alone), even after
the process id was reused. SIGTERM (what ``kill``, a scheduler or a container stop sends) is
turned into :class:`Terminated` while a run is active (:func:`signals_raise`), so the run's
clean-up runs (FAILED state, withdrawn model versions, no half-written output) as it does for
Ctrl-C (``KeyboardInterrupt``).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def host_name() -> str:
    """This machine's host name."""
    return socket.gethostname()


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), else None."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ")"
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, start_time: str | None = None) -> bool:
    """True when process ``pid`` (started at ``start_time``, when given) still runs here."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    except (OverflowError, ValueError):
        return False
    if start_time:
        now = process_start_time(pid)
        if now is not None and now != start_time:
            return False  # the id was reused by a later process
    return True


def process_tags() -> dict[str, str]:
    """Tags naming this process: ``segml.host``, ``segml.pid``, ``segml.pid_start``."""
    tags = {"segml.host": host_name(), "segml.pid": str(os.getpid())}
    start = process_start_time(os.getpid())
    if start is not None:
        tags["segml.pid_start"] = start
    return tags


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
