"""A column a step reads that its records do not have stops the run with one line naming
the step and the column, even when the check before the run could not know the columns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from tether.errors import ConfigError
from tether.generate.distill import PreferencePairs
from tether.pipeline import Outcome, Pipeline, SourceStep, StepContext, register, run_in_memory
from tether.records import new_record


@register
class BodyRows(SourceStep):
    """Three records with a ``body`` column; it cannot say its columns before it runs."""

    type: ClassVar[str] = "test_body_rows"
    description: ClassVar[str] = "test step"

    def read(self, ctx: StepContext) -> Iterator[Outcome]:
        yield Outcome(kept=[new_record({"body": f"words number {i}"}, step=self.instance_name) for i in range(3)])


def test_a_filter_reading_an_absent_column_stops_the_run(tmp_path: Path) -> None:
    pipe = Pipeline.from_dict({"steps": [{"test_body_rows": {}}, {"length_filter": {"min_words": 1}}]})
    pipe.validate()  # the columns are unknown before the run
    with pytest.raises(ConfigError) as err:
        pipe.run(tmp_path / "run")
    assert err.value.message == ("step length_filter reads column(s) text, but its records have: body")
    assert "fields:" in (err.value.hint or "")
    # not three records rejected as too_short
    assert not list((tmp_path / "run" / "steps").glob("01-*/rejected/*.parquet"))


def test_the_policy_does_not_turn_an_absent_column_into_rejections() -> None:
    recs = [new_record({"body": "some words here"}, step="t")]
    from tether.curate.heuristics import LengthFilter

    with pytest.raises(ConfigError, match=r"step length_filter reads column\(s\) text"):
        run_in_memory([LengthFilter(min_words=1, on_error="skip")], recs)


def test_a_global_step_reading_an_absent_column_names_it() -> None:
    recs = [new_record({"prompt": "p", "response": f"r{i}"}, step="t") for i in range(2)]
    with pytest.raises(ConfigError, match=r"step preference_pairs reads column\(s\) reward__score, but its "
                                          r"records have: prompt, response"):
        run_in_memory([PreferencePairs(score_column="reward__score")], recs)


def test_a_column_present_with_empty_values_is_not_absent() -> None:
    from tether.curate.heuristics import LengthFilter

    recs = [new_record({"text": None}, step="t"), new_record({"text": "two words"}, step="t")]
    out = run_in_memory([LengthFilter(min_words=1)], recs)
    assert len(out.kept) == 1 and [v.reason for _, v in out.rejected] == ["too_short"]


def test_a_later_batch_without_a_sparse_column_is_not_an_error() -> None:
    import asyncio

    from tether.curate.heuristics import LengthFilter

    step = LengthFilter(fields=["text", "context"], min_words=1)
    ctx = StepContext(step_name=step.instance_name)
    first = [new_record({"text": "two words", "context": "some context"}, step="t")]
    later = [new_record({"text": "more words"}, step="t")]  # a part of the input with no context at all
    assert len(asyncio.run(step.run_batch(first, ctx)).kept) == 1
    assert len(asyncio.run(step.run_batch(later, ctx)).kept) == 1
    # a fresh run (a new context) checks its first batch again
    with pytest.raises(ConfigError, match=r"reads column\(s\) context"):
        asyncio.run(step.run_batch(later, StepContext(step_name=step.instance_name)))
