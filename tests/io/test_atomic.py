"""Atomic writes: the file appears whole or not at all, with the mode the umask gives."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tether.io._private import atomic_write_text
from tether.io.writers import write_jsonl, write_parquet


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_written_atomically_respect_the_umask(tmp_path: Path, mask: int, mode: int) -> None:
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        write_jsonl([{"x": 1}], tmp_path / "b.jsonl")
        write_parquet([{"x": 1}], tmp_path / "c.parquet")
    finally:
        os.umask(old)
    for name in ("a.json", "b.jsonl", "c.parquet"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert not list(tmp_path.glob("*.tmp"))
