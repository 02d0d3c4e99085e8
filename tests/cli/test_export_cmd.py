"""``tether export``: every format is checked before any file is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def tether(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tether", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_format_the_records_cannot_fill_stops_before_any_file_is_written(tmp_path: Path) -> None:
    rows = [{"instruction": f"say {i}", "response": f"{i}"} for i in range(3)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    r = tether("export", "d.jsonl", "-f", "chat", "-f", "preference", "--out", "out", cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert ("export preference: the records lack the columns it needs (prompt+chosen+rejected or "
            "instruction+chosen+rejected or question+chosen+rejected); they have: instruction, response") in r.stderr
    assert not (tmp_path / "out" / "chat.jsonl").exists()
    r = tether("export", "d.jsonl", "-f", "chat", "-f", "dpp", "--out", "out", cwd=tmp_path)
    assert r.returncode == 2 and "unknown export format 'dpp'" in r.stderr
    assert not (tmp_path / "out" / "chat.jsonl").exists()
    r = tether("export", "d.jsonl", "-f", "chat", "-f", "alpaca", "--out", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "chat.jsonl").exists() and (tmp_path / "out" / "alpaca.jsonl").exists()
