"""An audit report that cannot be read is not an up-to-date audit: the rerun audits again."""

from __future__ import annotations

import json
from pathlib import Path

from test_after_run import _pipe

from tether.pipeline import Pipeline


def test_a_corrupt_report_is_audited_again(tmp_path: Path, audits: list[int]) -> None:
    calls = audits
    run = tmp_path / "run"
    pipe = _pipe(tmp_path, ">= 0.1")
    Pipeline.from_yaml(pipe).run(run)
    report = run / "audit" / "report.json"
    report.write_text(report.read_text()[:40], encoding="utf-8")  # cut short
    Pipeline.from_yaml(pipe).run(run)
    assert calls == [1, 1]
    assert json.loads(report.read_text())["scorecard"]["diversity"] == "ok"
    card = (run / "card.md").read_text()
    assert "could not be read" not in card and "`diversity.distinct_2 >= 0.1` passed" in card
