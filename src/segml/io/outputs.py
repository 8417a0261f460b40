"""Writing outputs safely: atomic files and folders, clear errors for a full disk or a missing
permission, and checks that an output never lands in (or replaces) an input."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


class OutputError(OSError):
    """Writing an output failed: the message names the path and the cause (a full disk, a
    quota, a read-only file system, no permission) and says that nothing was written."""


def output_error(exc: OSError, path: str | os.PathLike[str]) -> OutputError:
    """``exc``, raised while writing ``path``, as an :class:`OutputError` naming both.

    An :class:`OutputError` is returned as it is, so a caller may wrap whatever it caught:
    ``except OSError as exc: fail(str(output_error(exc, out)))``. The message reads e.g.
    ``cannot write out.csv: No space left on device (ENOSPC); nothing was written``.
    """
    if isinstance(exc, OutputError):
        return exc
    code = exc.errno
    cause = os.strerror(code) if code else (exc.strerror or str(exc) or type(exc).__name__)
    name = f" ({errno.errorcode[code]})" if code in errno.errorcode else ""
    err = OutputError(f"cannot write {path}: {cause}{name}; nothing was written")
    err.errno = code
    return err


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Run the block that writes ``path``; an OSError in it becomes an :class:`OutputError`.

    The caller removes what the block left half-written (:func:`atomic_file` and
    :func:`atomic_output_dir` do).
    """
    try:
        yield
    except OSError as exc:
        raise output_error(exc, path) from exc


@contextmanager
def atomic_file(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path to write; it replaces ``out`` only on success.

    The parent folder is created; a failure leaves ``out`` as it was and no temporary file.

    Raises
    ------
    OutputError
        When the file system refuses (disk full, quota, read-only, permissions): the message
        names ``out`` and the cause.
    """
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            yield tmp
            tmp.replace(out)
    finally:
        with contextlib.suppress(OSError):  # e.g. a folder that was never there
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_output_dir(out: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Write into a temporary sibling folder and move it to ``out`` only on success.

    A failure leaves no half-written ``out`` behind. An existing non-empty ``out`` is refused
    unless ``overwrite`` is set, so nothing a user made is lost by accident.

    Raises
    ------
    FileExistsError
        When ``out`` is a file, or a non-empty folder and not ``overwrite``.
    OutputError
        When the file system refuses (disk full, quota, read-only, permissions): the message
        names ``out`` and the cause; the temporary folder is removed, ``out`` left as it was.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True to replace it")
    tmp = None
    try:
        with writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            # the process id in the name lets a later run remove it if this process is killed
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
            yield tmp
            _swap_in(tmp, out)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, out: Path) -> None:
    """Move the folder ``tmp`` to ``out``, replacing it; on failure ``out`` is as it was."""
    if not out.exists():
        tmp.rename(out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


#: Temporary siblings written by :func:`atomic_output_dir` and :func:`atomic_file`
#: (``.NAME.tmp-PID-XXXX``, ``.NAME.tmp-PID``) and set aside by a replacement (``.NAME.old-PID``).
_TEMPORARY = re.compile(r"^\..+\.(?:tmp|old)-(\d+)(?:-[^/]*)?$")


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[str]:
    """Remove the temporary entries in ``folder`` left by processes that no longer run.

    A run killed while writing (SIGKILL, power loss) cannot clean up; the next run calls this
    on the folders it writes to. Entries of live processes are left alone. Returns the names
    removed.
    """
    from segml.processes import process_alive

    root = Path(folder)
    if not root.is_dir():
        return []
    removed = []
    for entry in sorted(root.iterdir()):
        m = _TEMPORARY.match(entry.name)
        if m is None or process_alive(int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def check_output_path(
    out: str | os.PathLike[str],
    inputs: Mapping[str, str | os.PathLike[str] | None],
    option: str = "--out",
    *,
    new_entries: bool = False,
) -> None:
    """Refuse an output path that would write over something the user gave as input.

    ``out`` may not be one of the ``inputs`` (the same file, also through a link), lie inside an
    input folder (a bank's extract) or be a folder that holds an input (unless ``new_entries``:
    a folder into which only new, uniquely named entries are written, such as the runs' output
    folder).

    Parameters
    ----------
    out : path
        Where a command is about to write.
    inputs : mapping of str to path
        What the user gave, by the option that named it (``{"--table": path}``); None values
        are skipped.
    option : str, default "--out"
        The option that named ``out``, for the message.
    new_entries : bool, default False
        ``out`` is a folder that only receives new entries: holding an input is fine.

    Raises
    ------
    ValueError
        Naming the option, the path and the input it would overwrite, or the path (output or
        input) that is a symbolic link loop.
    """
    target = resolved(out, option)
    for name, given in inputs.items():
        if given is None:
            continue
        source = resolved(given, name)
        same = target == source or (
            target.exists() and source.exists() and os.path.samefile(target, source)
        )
        if same:
            what = f"is the input {name} {given}"
        elif source.is_dir() and source in target.parents:
            what = f"is inside the input folder {name} {given}"
        elif not new_entries and target.is_dir() and target in source.parents:
            what = f"holds the input {name} {given}"
        else:
            continue
        raise ValueError(
            f"{option} {out} {what}: segml never writes over its inputs; choose another path"
        )


def resolved(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` made absolute, ``~`` expanded and symbolic links followed.

    Raises
    ------
    ValueError
        Naming ``option`` and the path when a symbolic link on it leads back to itself (a
        loop), e.g. ``--out loop/x.csv: a symbolic link loop ...``.
    """
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError before Python 3.13, then OSError
        if isinstance(exc, OSError) and exc.errno != errno.ELOOP:
            raise ValueError(f"{option} {path}: {exc.strerror or exc}") from None
        raise ValueError(
            f"{option} {path}: a symbolic link loop (a link on this path leads back to "
            "itself); choose another path"
        ) from None


def check_can_create(path: str | os.PathLike[str], option: str) -> None:
    """Refuse ``path`` when it cannot be created: a symbolic link loop or a file on the way, a
    read-only file system, or no permission.

    The nearest existing folder above ``path`` must be a folder this process may write in.

    Raises
    ------
    ValueError
        Naming ``option``, the path and the obstacle.
    """
    path = Path(path)
    resolved(path, option)
    above = path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise ValueError(f"{option} {path} cannot be created: {above} is a file, not a folder")
    if hasattr(os, "statvfs") and os.statvfs(above).f_flag & os.ST_RDONLY:
        raise ValueError(f"{option} {path} cannot be written: {above} is on a read-only file system")  # fmt: skip
    if not os.access(above, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path} cannot be written: no permission in {above}")


def check_output_file(path: str | os.PathLike[str], option: str) -> None:
    """Refuse ``path`` as a file to write: a folder is there, or it cannot be created.

    Raises
    ------
    ValueError
        Naming ``option`` and the path: a folder (``--out x.csv is a folder: give a file
        name``), a symbolic link loop, a file on the way, a read-only file system or no
        permission (:func:`check_can_create`).
    """
    path = Path(path)
    resolved(path, option)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder: give a file name")
    check_can_create(path, option)


def check_output_folder(path: str | os.PathLike[str], option: str) -> None:
    """Refuse ``path`` as a folder to write: a file is there, or it cannot be created.

    Raises
    ------
    ValueError
        Naming ``option`` and the path: a file (``--out x is a file: give a folder``), a
        symbolic link loop, a file on the way, a read-only file system or no permission.
    """
    path = Path(path)
    resolved(path, option)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file: give a folder")
    check_can_create(path, option)
