"""LLM usage across attempts: an attempt file that cannot be read is warned about by name,
and the totals it would have added to are marked incomplete (never silently under-counted)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tether.pipeline.rundir import RunDir
from tether.pipeline.usage import UNREADABLE, add_usage, flat_usage, manifest_llm, read_attempts


def _store(tmp_path: Path):  # noqa: ANN202
    store = RunDir(tmp_path / "run").store(1, "gen")
    (store.path / "_usage").mkdir(parents=True)
    return store


def test_a_corrupt_attempt_file_is_named_and_marks_the_totals(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = _store(tmp_path)
    usage = store.path / "_usage"
    (usage / "attempt-001.json").write_text(json.dumps({"default": {"model": "m", "calls": 2, "cost_usd": 0.5}}))
    (usage / "attempt-002.json").write_text('{"default": {"calls": ')  # cut short by a crash
    with caplog.at_level(logging.WARNING, logger="tether.pipeline.usage"):
        attempts = read_attempts(store)
    assert "01-gen/_usage/attempt-002.json" in caplog.text and "incomplete" in caplog.text
    total = add_usage(attempts)
    assert total["default"]["calls"] == 2
    assert total[UNREADABLE] == {"files": ["01-gen/_usage/attempt-002.json"]}
    assert flat_usage(total) == {"calls": 2, "cost_usd": 0.5, "incomplete": True}
    llm = manifest_llm({"gen": total}, {}, {})
    assert set(llm) == {"default"}
    assert llm["default"]["calls"] == 2 and llm["default"]["incomplete"] is True
    assert llm["default"]["unreadable_usage"] == ["01-gen/_usage/attempt-002.json"]


def test_readable_attempts_are_not_marked(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (store.path / "_usage" / "attempt-001.json").write_text(json.dumps({"default": {"model": "m", "calls": 2}}))
    total = add_usage(read_attempts(store))
    assert flat_usage(total) == {"calls": 2}
    assert "incomplete" not in manifest_llm({"gen": total}, {}, {})["default"]


def test_an_attempt_file_that_is_not_an_object_counts_as_unreadable(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (store.path / "_usage" / "attempt-001.json").write_text("[1]")
    assert flat_usage(add_usage(read_attempts(store))) == {"incomplete": True}
