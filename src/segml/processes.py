"""Which process made a run or a temporary folder, and whether it still lives.

A killed run cannot mark itself: :func:`process_tags` names the host, the process id and the
process's start time, so a later process on the same host can tell one whose process is gone
from one still working, even after the process id was reused.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["host_name", "process_alive", "process_start_time", "process_tags"]


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
