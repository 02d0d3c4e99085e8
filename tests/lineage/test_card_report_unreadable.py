"""The dataset card says when the audit report is there but cannot be read, and why: never
that no audit was run."""

from __future__ import annotations

import shutil
from pathlib import Path

from tether.lineage.card import build_card
from tether.pipeline import RunDir


def test_an_unreadable_report_is_not_called_a_missing_audit(tmp_path: Path, small_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    (run / "audit").mkdir()
    (run / "audit" / "report.json").write_text('{"metrics": [', encoding="utf-8")  # cut short
    text = build_card(RunDir(run))
    assert "No audit was run" not in text
    assert "The audit report `audit/report.json` could not be read (invalid JSON: " in text
    assert "the audit's results are unknown" in text
    assert "The dataset was not audited" not in text
    assert "- The audit report could not be read: its quality, diversity, privacy and bias are unknown." in text


def test_a_report_that_is_not_an_object_says_so(tmp_path: Path, small_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    (run / "audit").mkdir()
    (run / "audit" / "report.json").write_text("[1, 2]", encoding="utf-8")
    text = build_card(RunDir(run))
    assert "could not be read (not a JSON object: a list)" in text and "No audit was run" not in text


def test_tokens_of_an_incomplete_usage_total_are_marked(tmp_path: Path, small_run: Path) -> None:
    import json

    import yaml

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["llm"] = {"default": {"backend": "openai", "model": "test/echo"}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["llm"] = {"default": {"prompt_tokens": 10, "completion_tokens": 5, "incomplete": True,
                                   "unreadable_usage": ["01-gen/_usage/attempt-002.json"]}}
    text = build_card(RunDir(run), manifest)
    assert "| default | openai | test/echo | 15 (incomplete) |" in text
    manifest["llm"]["default"].pop("incomplete")
    assert "| default | openai | test/echo | 15 |" in build_card(RunDir(run), manifest)
