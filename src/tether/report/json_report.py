"""``report.json``: the audit, readable by a program."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tether.io._private import atomic_write_text


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report dict as JSON (NaN written as null), atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p, json.dumps(_clean(report), indent=2, ensure_ascii=False, allow_nan=False, default=str))
    return p


__all__ = ["write_json"]
