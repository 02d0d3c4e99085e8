"""The built-in ``select`` and ``limit`` steps: what they declare matches what they do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import ConfigError
from tether.pipeline import Pipeline, run_in_memory
from tether.pipeline.builtins import Select


def _pipe(numbers: Path, select: dict) -> Pipeline:
    return Pipeline.from_dict({"steps": [{"read": {"path": str(numbers)}}, {"select": select},
                                         {"length_filter": {"min_words": 1}}]})


def test_select_keep_removes_the_other_columns_before_the_run(numbers: Path) -> None:
    # records have text and n; keep: [n] leaves no text for the length filter to read
    with pytest.raises(ConfigError, match=r"step length_filter reads column\(s\) text, but the records at that point "
                                          r"have: n"):
        _pipe(numbers, {"keep": ["n"]}).validate()
    _pipe(numbers, {"keep": ["text"]}).validate()


def test_select_declares_the_columns_it_leaves() -> None:
    step = Select(keep=["a", "b"], rename={"a": "x"}, drop=["b"])
    out = run_in_memory([step], [{"id": "1", "a": 1, "b": 2, "c": 3}]).kept[0]
    payload = {k for k in out if k not in ("id", "lineage")}
    assert payload == {"x"}
    assert "*" in step.removed_columns()
    assert step.output_columns() == payload
    # without keep, the removed columns are the dropped and the renamed ones
    plain = Select(drop=["b"], rename={"a": "x"})
    assert plain.removed_columns() == {"a", "b"} and plain.output_columns() == {"x"}
