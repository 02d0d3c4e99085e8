"""The prompt recipe: templates over columns, few-shot draws, n outputs, structured output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gen_helpers import run_steps

from tether.errors import ConfigError
from tether.generate import Prompt, Sample
from tether.generate.testing import ScriptedLLM, request_text
from tether.llm.types import LLMRequest


def echo(req: LLMRequest) -> list[str]:
    return [f"answer {i}: {req.messages[-1].content}" for i in range(req.n)]


def test_template_over_sampled_attributes_with_n_outputs_and_lineage() -> None:
    llm = ScriptedLLM(echo)
    sample = Sample(n=4, attributes={"topic": {"categories": ["tides", "moss"]}})
    step = Prompt(template="Ask about {{ topic }}.", n=3, output_column="question", temperature=0.9)
    out, _ = run_steps([sample, step], llms={"default": llm})
    assert len(out.kept) == 12 and len({r["id"] for r in out.kept}) == 12
    r = out.kept[0]
    assert r["question"] == f"answer 0: Ask about {r['topic']}." and "topic" in r  # attributes kept
    lin = r["lineage"]
    assert lin["recipe"] == "prompt" and lin["model"] == "scripted:v1" and lin["origin"] == "synthetic"
    assert lin["template_hash"] and lin["params_hash"] and lin["prompt_hash"]
    assert len(lin["parents"]) == 1 and llm.requests[0].n == 3 and llm.requests[0].temperature == 0.9
    assert step.input_columns() == {"topic"}


def test_few_shot_draws_k_examples_per_request(tmp_path: Path) -> None:
    ex = tmp_path / "ex.jsonl"
    ex.write_text("".join(json.dumps({"q": f"seed question {i}"}) + "\n" for i in range(10)), encoding="utf-8")
    llm = ScriptedLLM(lambda req: "ok")
    recs = [{"id": f"r{i}", "instruction": f"task {i}", "lineage": None} for i in range(20)]
    out, _ = run_steps([Prompt(examples_file="ex.jsonl", k=2)], recs, llms={"default": llm}, base_dir=tmp_path)
    texts = [request_text(r) for r in llm.requests]
    assert all(t.count("seed question") == 2 for t in texts)
    assert len(set(texts)) == 20  # examples differ per request
    assert all(len(r["lineage"]["parents"]) == 3 for r in out.kept)  # the input and both examples


def test_structured_output_becomes_columns_and_bad_answers_are_quarantined() -> None:
    def responder(req: LLMRequest) -> str:
        if "broken" in request_text(req):
            return "not json"
        return json.dumps({"title": "T", "rating": 4})

    recs = [{"id": "a", "instruction": "fine", "lineage": None}, {"id": "b", "instruction": "broken", "lineage": None}]
    step = Prompt(output_schema={"title": "str", "rating": "int"}, on_error="quarantine", n=2)
    out, _ = run_steps([step], recs, llms={"default": ScriptedLLM(responder)})
    assert [(r["title"], r["rating"]) for r in out.kept] == [("T", 4), ("T", 4)]
    assert len({r["lineage"]["prompt_hash"] for r in out.kept}) == 2  # each sample its own call
    (rec, _exc, raw), = out.quarantined
    assert rec["id"] == "b" and raw == "not json"


def test_missing_template_variable_is_a_config_error_naming_it() -> None:
    recs = [{"id": "a", "text": "x", "lineage": None}]
    with pytest.raises(ConfigError, match=r"step prompt reads column\(s\) topic, but its records have: text"):
        run_steps([Prompt(template="About {{ topic }}")], recs, llms={"default": ScriptedLLM(echo)})
    recs.append({"id": "b", "text": "y", "topic": "worms", "lineage": None})  # a column some records lack
    with pytest.raises(ConfigError, match="uses variable 'topic', which is missing .variables available: examples, text"):
        run_steps([Prompt(template="About {{ topic }}")], recs, llms={"default": ScriptedLLM(echo)})
    with pytest.raises(ConfigError, match="unknown type 'dict'"):
        Prompt(output_schema={"a": "dict"})


def test_columns_a_template_file_reads_are_checked_before_the_run(tmp_path: Path, monkeypatch) -> None:
    from tether.pipeline import Pipeline

    (tmp_path / "ask.j2").write_text("{% for ex in examples %}{{ ex.q }}{% endfor %}A {{ level }} question on {{ topic }}.",
                                     encoding="utf-8")
    step = Prompt(template_file=str(tmp_path / "ask.j2"), system="You teach {{ audience }}.")
    assert step.input_columns() == {"level", "topic", "audience"}
    sample = {"sample": {"n": 2, "attributes": {"topic": {"categories": ["tides"]}, "audience": {"value": "kids"}}}}
    pipe = Pipeline.from_dict({"steps": [sample, {"prompt": {"template_file": str(tmp_path / "ask.j2")}}]})
    with pytest.raises(ConfigError, match=r"step prompt reads column\(s\) level, but the records at that point have"):
        pipe.validate()
    # a path relative to the working directory (running a pipeline from its folder) is parsed too
    monkeypatch.chdir(tmp_path)
    assert Prompt(template_file="ask.j2").input_columns() == {"level", "topic"}
    sample["sample"]["attributes"]["level"] = {"value": "first"}
    Pipeline.from_dict({"steps": [sample, {"prompt": {"template_file": "ask.j2"}}]}, base_dir=tmp_path).validate()


@pytest.mark.parametrize(("temperature", "calls"), [(0.8, 6), (0.0, 1)])
def test_records_rendering_one_prompt_get_a_sample_each_and_a_rerun_is_free(
    tmp_path: Path, temperature: float, calls: int
) -> None:
    import itertools

    from gen_helpers import run_pipeline, step_records

    from tether.llm.testing import FakeOpenAIServer

    rows = [{"instruction": "Write a haiku about rain.", "slot": i} for i in range(6)]  # one prompt, 6 records
    (tmp_path / "grid.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    counter = itertools.count()
    steps = [{"read": {"path": "grid.jsonl"}},
             {"prompt": {"template": "{{ instruction }}", "temperature": temperature}}]
    with FakeOpenAIServer(lambda req: f"sample {next(counter)}") as srv:
        run_pipeline(tmp_path, steps, srv.llm_config())
        answers = [r["response"] for r in step_records(tmp_path / "run", 1, "prompt")]
        assert len(answers) == 6 and srv.calls == calls
        assert len(set(answers)) == calls  # sampling stays sampling; at temperature 0 one answer is shared
        (tmp_path / "run" / "steps").rename(tmp_path / "steps.old")  # redo every step; the cache stays
        run_pipeline(tmp_path, steps, srv.llm_config())
        assert srv.calls == calls  # each record's sample came from the cache
        assert [r["response"] for r in step_records(tmp_path / "run", 1, "prompt")] == answers
