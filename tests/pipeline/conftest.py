from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    """A JSONL file of 60 records: text and n."""
    p = tmp_path / "numbers.jsonl"
    p.write_text("".join(json.dumps({"text": f"record number {i}", "n": i}) + "\n" for i in range(60)), encoding="utf-8")
    return p


@pytest.fixture
def audits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of the audit stage."""
    import tether.audit.pipeline as audit_pipeline

    calls: list[int] = []
    real = audit_pipeline.audit_run

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(audit_pipeline, "audit_run", counted)
    return calls
