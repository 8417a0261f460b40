"""Content digests: the SHA-256 of a file's bytes, the one place segml hashes a file.

Run lineage (:mod:`segml.run.lineage`) logs these digests with a run's inputs, and the
validation cache (:mod:`segml.validation_cache`) keys a folder's validation on them. SHA-256
reads about 1.4 GB/s on a CPU with SHA extensions (a 100,000-customer bank's 380 MB of Parquet
in 0.27 s), so hashing the content costs far less than reading it with DuckDB.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["file_digest", "text_digest"]


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, as 64 hex characters.

    Parameters
    ----------
    path : path
        The file to read (whole, in chunks; never loaded at once).

    Returns
    -------
    str
        The hex digest.

    Raises
    ------
    OSError
        If the file cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> _ = p.write_bytes(b"abc")
    >>> file_digest(p)[:16]
    'ba7816bf8f01cfea'
    """
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def text_digest(text: str | bytes) -> str:
    """SHA-256 of a text (UTF-8) or of bytes, as 64 hex characters.

    Examples
    --------
    >>> text_digest("abc") == text_digest(b"abc")
    True
    """
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()
