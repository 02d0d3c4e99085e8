"""Atomic file writes: write to a temporary name in the same folder, fsync, rename."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tether.errors import RunStateError


def current_umask() -> int:
    """The process's umask, read without changing it where the system says (Linux), so no
    other thread ever sees a cleared mask."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def disk_full(exc: BaseException) -> bool:
    """Whether an error says the disk (or the user's quota) is full; pyarrow's carry no errno."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "no space left on device" in text or "disk quota exceeded" in text or "database or disk is full" in text


def no_space(path: str | Path, exc: BaseException) -> RunStateError:
    """One line for a full disk: what was being written, and that the run resumes."""
    return RunStateError(
        f"no space left on device writing {path}",
        hint="free some space, then rerun the same command to resume: batches committed and LLM answers "
             "received so far are kept",
    )


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``path`` atomically. A full disk is
    raised as one :class:`RunStateError` naming ``path`` (the temporary file is removed)."""
    target = Path(path)
    tmp_path: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~current_umask())  # mkstemp's 0600 is for the temporary name only
        os.replace(tmp_path, target)
    except OSError as exc:
        if disk_full(exc):
            raise no_space(target, exc) from exc
        raise
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


RAW_HEAD = 1024
"""How much of a record too large (or too deep) to keep whole its bad row's ``raw`` holds."""


def text_head(text: str, limit: int = RAW_HEAD) -> str:
    """``text`` cut to its first ``limit`` characters (with ``...`` when cut)."""
    return text if len(text) <= limit else text[:limit] + "..."
