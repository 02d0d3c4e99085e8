"""self_instruct: the ROUGE-L novelty rule, the keyword filter, output-first classification
instances, stopping at N."""

from __future__ import annotations

import json
from pathlib import Path

from gen_helpers import run_pipeline, run_steps, step_records
from rouge_score import rouge_scorer

from tether.generate import SelfInstruct
from tether.generate.self_instruct import RougePool
from tether.generate.testing import ScriptedLLM, request_text, schema_name, scripted_server
from tether.llm.types import LLMRequest
from tether.pipeline.rundir import REJECTED

SEEDS = ["Write a short poem about the sea at night.", "Explain how a bicycle gear works to a child.",
         "Classify the sentiment of a product review as positive or negative."]

NEW = [
    "Write a short poem about the sea at night time.",   # near copy of a seed
    "Describe the image of a sunset in one line.",        # unusable: image
    "List three ways to save water in a garden.",
    "Classify an email as spam or not spam.",
    "Suggest five names for a new bakery in a small town.",
    "Ok",                                                  # too short
    "Translate a greeting from English to French.",
]


def responder(req: LLMRequest) -> str:
    text = request_text(req)
    name = schema_name(req)
    if name == "Instructions":
        return json.dumps({"instructions": NEW})
    if name == "TaskKind":
        return json.dumps({"is_classification": "Classify" in text.split("Task:")[1]})
    if "first pick a possible output label" in text:
        return json.dumps({"instances": [{"output": "spam", "input": "WIN A PRIZE NOW"}]})
    return json.dumps({"instances": [{"input": "", "output": "some output"}]})


def seeds() -> list[dict]:
    return [{"id": f"s{i}", "instruction": t, "lineage": None} for i, t in enumerate(SEEDS)]


def test_rouge_pool_matches_the_reference_scorer() -> None:
    ref = rouge_scorer.RougeScorer(["rougeL"])
    pool = RougePool(SEEDS)
    for cand in NEW:
        expect = max(ref.score(s, cand)["rougeL"].fmeasure for s in SEEDS)
        assert abs(pool.max_score(cand) - expect) < 1e-12


def test_near_copies_and_unusable_tasks_are_rejected_and_it_stops_at_n(tmp_path: Path) -> None:
    """Through the real LLM layer (a loopback OpenAI-compatible server, the run's cache)."""
    (tmp_path / "seeds.jsonl").write_text("".join(json.dumps({"instruction": t}) + "\n" for t in SEEDS), "utf-8")
    steps = [{"read": {"path": "seeds.jsonl"}}, {"self_instruct": {"num_instructions": 3, "seed_per_prompt": 2}}]
    with scripted_server(responder) as srv:
        res = run_pipeline(tmp_path, steps, srv.llm_config())
        calls = srv.calls
        run = tmp_path / "run"
        kept = step_records(run, 1, "self_instruct")
        assert [r["instruction"] for r in kept] == [NEW[2], NEW[3], NEW[4]]
        reasons = {r["instruction"]: (r["reject_reason"], r["reject_score"])
                   for r in step_records(run, 1, "self_instruct", REJECTED)}
        assert reasons[NEW[0]][0] == "near_copy" and reasons[NEW[0]][1] >= 0.7
        assert reasons[NEW[1]][0] == "unusable_task_type" and reasons["Ok"][0] == "over_limit"
        assert reasons[NEW[6]][0] == "over_limit"
        stats = res.steps[1]["stats"]
        assert stats["requests"] == 1 and res.steps[1]["counts"]["in"] == 3
        spam = next(r for r in kept if "spam" in r["instruction"])
        assert spam["is_classification"] is True and spam["output"] == "spam"  # output-first
        assert kept[0]["is_classification"] is False
        assert all(r["rouge_l_max"] < 0.7 for r in kept)
        seed_ids = {r["id"] for r in step_records(run, 0, "read")}
        assert set(kept[0]["lineage"]["parents"]) <= seed_ids
        # 1 generation request, then a classification check and an instance call per kept task
        assert calls == 1 + 3 * 2
        assert srv.answered[0]["response_format"]["json_schema"]["name"] == "Instructions"
        # a rerun with a setting that leaves the requests unchanged runs again from the cache alone
        steps[1]["self_instruct"]["rouge_threshold"] = 0.71
        again = run_pipeline(tmp_path, steps, srv.llm_config())
        assert again.steps[1]["status"] == "ran" and srv.calls == calls
        assert [r["instruction"] for r in step_records(run, 1, "self_instruct")] == [NEW[2], NEW[3], NEW[4]]


def test_generated_tasks_join_the_pool_so_repeats_are_rejected() -> None:
    llm = ScriptedLLM(responder)
    out, stats = run_steps([SelfInstruct(num_instructions=10, instances=False, max_requests=3)], seeds(),
                           llms={"default": llm})
    assert len(out.kept) == 4 and stats["self_instruct"]["stopped_early"]
    assert any(r["instruction"] == "Ok" and v.reason == "too_short" for r, v in out.rejected)
    repeats = [v for r, v in out.rejected if r["instruction"] == NEW[2]]
    assert len(repeats) == 2 and all(v.reason == "near_copy" and v.score == 1.0 for v in repeats)
    # later requests show generated tasks in context
    assert any(NEW[2] in request_text(r) for r in llm.requests[1:])


def test_instances_beyond_instances_per_task_are_rejected_not_dropped() -> None:
    def many(req: LLMRequest) -> str:
        if schema_name(req) == "Instances":
            return json.dumps({"instances": [{"input": f"in {i}", "output": f"out {i}"} for i in range(3)]})
        return responder(req)

    out, stats = run_steps([SelfInstruct(num_instructions=3, seed_per_prompt=2, instances_per_task=2)], seeds(),
                           llms={"default": ScriptedLLM(many)})
    extra = [(r, v) for r, v in out.rejected if v.reason == "over_quota"]
    # 3 tasks x 3 instances written = 6 kept + 3 over quota
    assert len(out.kept) == 6 and len(extra) == 3
    assert {r["output"] for r, _ in extra} == {"out 2"} and {v.score for _, v in extra} == {3.0}
    assert {r["instruction"] for r, _ in extra} == {r["instruction"] for r in out.kept}
    assert all(r["lineage"]["prompt_hash"] for r, _ in extra)
    assert stats["self_instruct"]["rejected"]["over_quota"] == 3
