"""The grounded_qa example runs offline and its planted unanswerable questions are rejected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_grounded_qa_example_runs(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, str(ROOT / "examples/grounded_qa/run.py"), str(tmp_path / "run")],
                   check=True, env=env, capture_output=True, text=True)
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    step = m["steps"][1]
    assert step["counts"]["out"] > 0 and step["stats"]["rejected"] == {"unanswerable": step["counts"]["rejected"]}
