"""Helpers shared by the pipeline tests (a unique module name: conftest modules collide)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def write_pipeline(tmp_path: Path, body: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p
