"""File digests: remembered per process while a file is unchanged, never once it changed."""

from __future__ import annotations

import hashlib
import os

import pytest

from segml import digest


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch):
    monkeypatch.setattr(digest, "_memo", {})


@pytest.fixture
def settled(monkeypatch):
    """Every file counts as settled (written long enough ago to be remembered)."""
    monkeypatch.setattr(digest, "RACY_SECONDS", -1.0)


def test_a_settled_file_is_read_once(tmp_path, monkeypatch, settled) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"abc" * 1000)
    reads = []
    real = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda f, name: reads.append(1) or real(f, name))
    assert digest.file_digest(path) == _sha(b"abc" * 1000)
    assert digest.file_digest(str(path)) == _sha(b"abc" * 1000)  # remembered
    assert len(reads) == 1


def test_a_changed_file_is_hashed_again_even_with_its_size_and_times_restored(
    tmp_path, settled
) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"abc")
    assert digest.file_digest(path) == _sha(b"abc")
    st = os.stat(path)
    path.write_bytes(b"xyz")  # same size; the modification time put back as it was
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == st.st_mtime_ns
    assert digest.file_digest(path) == _sha(b"xyz")  # its change time moved


def test_a_file_just_written_is_not_remembered(tmp_path, monkeypatch) -> None:
    """A file system with coarse timestamps could hide a second write in the same tick; a
    modification time set into the past does not make a file settled (its change time)."""
    path = tmp_path / "t.parquet"
    path.write_bytes(b"abc")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 3_600 * 10**9))  # "an hour ago"
    assert digest.file_digest(path) == _sha(b"abc")
    assert not digest._memo
    monkeypatch.setattr(digest, "RACY_SECONDS", -1.0)
    digest.file_digest(path)
    assert len(digest._memo) == 1


def test_the_memo_is_bounded(tmp_path, monkeypatch, settled) -> None:
    monkeypatch.setattr(digest, "_MEMO_SIZE", 3)
    for i in range(5):
        path = tmp_path / f"t{i}"
        path.write_bytes(bytes([i]))
        assert digest.file_digest(path) == _sha(bytes([i]))
    assert len(digest._memo) == 3
