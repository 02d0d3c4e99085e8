"""distill keeps its judge's error text: on the rejected prompt and on each unscored sample."""

from __future__ import annotations

import json

from gen_helpers import run_steps

from tether.generate.distill import Distill
from tether.generate.testing import ScriptedLLM, request_text
from tether.llm.types import LLMRequest


def teacher(req: LLMRequest) -> list[str]:
    return ["short", "a longer answer here", "mid answer"][: req.n]


def judge(req: LLMRequest) -> str:
    text = request_text(req)
    if "UNREADABLE" in text or "mid answer" in text:
        return "ten out of ten"
    response = text.split("Response:\n")[1].split("\n\nReply")[0]
    return json.dumps({"score": min(10, len(response.split()) * 2), "reason": "length"})


def _prompts(*texts: str) -> list[dict]:
    return [{"id": f"p{i}", "prompt": t, "lineage": None} for i, t in enumerate(texts)]


def test_a_prompt_whose_scores_are_unreadable_keeps_the_judge_errors() -> None:
    llms = {"default": ScriptedLLM(teacher), "judge": ScriptedLLM(judge)}
    out, _ = run_steps([Distill(n=2, preference="judge", judge_llm="judge")], _prompts("UNREADABLE"), llms=llms)
    ((rec, verdict),) = out.rejected
    assert verdict.reason == "too_few_scored"
    errors = rec["distill__judge_errors"]
    assert len(errors) == 2
    assert all(isinstance(e, str) and e for e in errors)
    assert verdict.details["error"].startswith("judge: ") and errors[0] in verdict.details["error"]


def test_an_unscored_sample_beside_a_pair_keeps_its_judge_error() -> None:
    llms = {"default": ScriptedLLM(teacher), "judge": ScriptedLLM(judge)}
    out, _ = run_steps([Distill(n=3, preference="judge", judge_llm="judge")], _prompts("Q?"), llms=llms)
    (pair,) = out.kept
    assert pair["chosen"] == "a longer answer here" and pair["rejected"] == "short"
    ((rec, verdict),) = out.rejected
    assert rec["response"] == "mid answer" and verdict.reason == "not_paired" and verdict.score is None
    assert verdict.details["error"].startswith("judge: ")
    # a sample the judge scored has no error
    out2, _ = run_steps([Distill(n=2, preference="judge", judge_llm="judge")], _prompts("Q?"), llms=llms)
    assert out2.kept and not out2.rejected
