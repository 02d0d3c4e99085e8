"""The runner: counts always add up, reruns do no work, edits rerun only what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_helpers import write_pipeline

from tether.errors import ConfigError, InputError, StepError
from tether.pipeline import Pipeline, RunDir

BASE = """
name: t
batch_size: 7
plugins: [plugin_steps]
steps:
  - read: {path: numbers.jsonl}
  - test_even_only: {}
  - test_slow_upper: {}
"""


def test_counts_add_up_and_rerun_does_no_work(tmp_path: Path, numbers: Path) -> None:
    pipe = Pipeline.from_yaml(write_pipeline(tmp_path, BASE))
    res = pipe.run(tmp_path / "run")
    assert res.did_work and res.dataset_rows == 30
    steps = {s["name"]: s for s in res.steps}
    f = steps["test_even_only"]["counts"]
    assert f == {"in": 60, "out": 30, "rejected": 30, "quarantined": 0}
    rejected = RunDir(tmp_path / "run").store(1, "test_even_only").table("rejected").to_pylist()
    assert {r["reject_reason"] for r in rejected} == {"odd"} and len(rejected) == 30
    assert all(r["test_even_only__score"] % 2 == 1 for r in rejected)
    again = pipe.run(tmp_path / "run")
    assert not again.did_work and again.dataset_digest == res.dataset_digest
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["inputs"][0]["path"] == "numbers.jsonl"
    assert [s["status"] for s in manifest["steps"]] == ["skipped"] * 3
    out = [json.loads(line) for line in (tmp_path / "run" / "dataset" / "data.jsonl").read_text().splitlines()]
    assert out[0]["upper"] == "RECORD NUMBER 0" and out[0]["lineage"]["parents"]


def test_editing_a_step_reruns_it_and_those_after_only(tmp_path: Path, numbers: Path) -> None:
    Pipeline.from_yaml(write_pipeline(tmp_path, BASE)).run(tmp_path / "run")
    edited = BASE.replace("test_slow_upper: {}", "test_slow_upper: {delay: 0.0001}")
    res = Pipeline.from_yaml(write_pipeline(tmp_path, edited)).run(tmp_path / "run")
    assert [s["status"] for s in res.steps] == ["skipped", "skipped", "ran"]
    numbers.write_text(numbers.read_text() + json.dumps({"text": "new", "n": 100}) + "\n")
    res = Pipeline.from_yaml(write_pipeline(tmp_path, edited)).run(tmp_path / "run")
    assert [s["status"] for s in res.steps] == ["ran", "ran", "ran"] and res.dataset_rows == 31


@pytest.mark.parametrize("policy", ["skip", "quarantine"])
def test_on_error_policies_keep_every_record(tmp_path: Path, numbers: Path, policy: str) -> None:
    body = BASE.replace("test_even_only: {}", f"test_flaky: {{on_error: {policy}}}")
    res = Pipeline.from_yaml(write_pipeline(tmp_path, body)).run(tmp_path / "run")
    c = res.steps[1]["counts"]
    assert c["in"] == 60 and c["out"] == 40 and c["rejected"] + c["quarantined"] == 20
    store = RunDir(tmp_path / "run").store(1, "test_flaky")
    if policy == "quarantine":
        q = store.table("quarantine").to_pylist()
        assert len(q) == 20 and q[0]["error_type"] == "RecordError" and "cannot handle" in q[0]["error_message"]
    else:
        r = store.table("rejected").to_pylist()
        assert len(r) == 20 and r[0]["reject_reason"] == "error" and "cannot handle" in r[0]["reject_detail"]


def test_on_error_raise_stops_with_the_record(tmp_path: Path, numbers: Path) -> None:
    body = BASE.replace("test_even_only: {}", "test_flaky: {}")
    with pytest.raises(StepError, match=r"step test_flaky, record \w+: cannot handle this record \(field 'n'\)") as e:
        Pipeline.from_yaml(write_pipeline(tmp_path, body)).run(tmp_path / "run")
    assert e.value.exit_code == 3
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed"


def test_columns_are_checked_before_anything_runs(tmp_path: Path, numbers: Path) -> None:
    body = BASE.replace("- read: {path: numbers.jsonl}", "- read: {path: numbers.jsonl, columns: [text]}")
    with pytest.raises(ConfigError, match="test_even_only reads column.s. n, but the records at that point have: text"):
        Pipeline.from_yaml(write_pipeline(tmp_path, body)).run(tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_bad_input_policies_on_the_read_step(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a", "n": 0}\n{"text": broken}\n{"n": 2}\n{"text": "' + "x" * 300 + '", "n": 4}\n')
    body = "steps:\n  - read: {path: d.jsonl, require: [text], max_record_bytes: 200, on_error: %s}\n"
    with pytest.raises(InputError, match=r"d\.jsonl:2: invalid JSON"):
        Pipeline.from_yaml(write_pipeline(tmp_path, body % "raise")).run(tmp_path / "r1")
    res = Pipeline.from_yaml(write_pipeline(tmp_path, body % "quarantine")).run(tmp_path / "r2")
    assert res.steps[0]["counts"] == {"in": 4, "out": 1, "rejected": 0, "quarantined": 3}
    q = RunDir(tmp_path / "r2").store(0, "read").table("quarantine").to_pylist()
    msgs = sorted(r["error_message"] for r in q)
    assert any("d.jsonl:2: invalid JSON" in m for m in msgs)
    assert any("d.jsonl:3: missing required column 'text'" in m and "(field 'text')" in m for m in msgs)
    assert any("d.jsonl:4: record is" in m and "max_record_bytes=200" in m for m in msgs)
    assert {r["raw"] for r in q if r["raw"]} >= {'{"text": broken}'}


def test_with_resolved_files_resolves_relative_file_fields_against_the_base(tmp_path: Path) -> None:
    from tether.generate import Prompt

    step = Prompt(template_file="prompts/ask.j2", system="Be brief.")
    copy = step.with_resolved_files(tmp_path)
    assert copy.template_file == str(tmp_path / "prompts" / "ask.j2") and copy.system == "Be brief."
    assert step.template_file == "prompts/ask.j2"  # the step itself is untouched
    absolute = Prompt(template_file=str(tmp_path / "a.j2"))
    assert absolute.with_resolved_files(tmp_path / "other") is absolute
    assert Prompt(template="{{ x }}").with_resolved_files(tmp_path).template == "{{ x }}"


def test_keep_batch_decides_a_batch_at_once_with_the_policy_and_overlapping_batches() -> None:
    import asyncio
    from typing import ClassVar

    from tether.pipeline.context import StepContext
    from tether.pipeline.step import FilterStep, Verdict, record_done

    class Longest(FilterStep):
        type: ClassVar[str] = "longest_half_test"
        description: ClassVar[str] = "keep the longer half of each batch"

        def keep_batch(self, records, ctx):  # noqa: ANN001, ANN201
            if any(r["text"] == "boom" for r in records):
                raise ValueError("the scorer failed on this batch")
            lengths = sorted(len(r["text"]) for r in records)
            cut = lengths[len(lengths) // 2]
            return [Verdict(len(r["text"]) >= cut, "short_for_its_batch", float(len(r["text"]))) for r in records]

    assert Longest.batches_may_overlap()  # no per-batch state on the instance
    ctx = StepContext(step_name="longest_half_test")
    ticks: list[int] = []
    record_done.set(lambda: ticks.append(1))
    recs = [{"id": str(i), "text": "x" * i} for i in range(1, 7)]
    out = asyncio.run(Longest().run_batch(recs, ctx))
    assert [r["id"] for r in out.kept] == ["4", "5", "6"] and len(out.rejected) == 3
    assert out.kept[0]["longest_half_test__score"] == 4.0 and len(ticks) == 6
    bad = [*recs[:2], {"id": "b", "text": "boom"}]
    out = asyncio.run(Longest(on_error="quarantine").run_batch(bad, ctx))
    assert len(out.quarantined) == 3 and "scorer failed" in str(out.quarantined[0][1])
    record_done.set(None)
