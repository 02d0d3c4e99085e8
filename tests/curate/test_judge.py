"""LLM judge and safety judge against a fake client with known answers (planted cases)."""

from __future__ import annotations

import re

import pytest
from curate_helpers import FakeLLM, make_ctx, run_step

from tether.curate.judge import LLMJudge
from tether.curate.safety import SafetyJudge
from tether.errors import ConfigError
from tether.records import new_record


def judge_answer(prompt: str):
    resp = prompt.split("RESPONSE:\n", 1)[1]
    if "GARBAGE" in resp:
        return "I think it is pretty good, maybe a 4?"
    if "OUTOFRANGE" in resp:
        return {"helpfulness": 9, "correctness": 5, "coherence": 5, "complexity": 2, "verbosity": 3}
    return {
        "helpfulness": 1 if "UNHELPFUL" in resp else 5,
        "correctness": 2 if "WRONG" in resp else 5,
        "coherence": 4,
        "complexity": 3,
        "verbosity": 5 if "RAMBLE" in resp else 2,
        "rationale": "ok",
    }


def test_llm_judge_planted():
    good = [("What is 2+2?", "2+2 equals 4."), ("Capital of Italy?", "Rome is the capital of Italy.")]
    bad = {"low_helpfulness": ("Fix my code", "UNHELPFUL: no idea."),
           "low_correctness": ("What is 2+2?", "WRONG: 2+2 is 5."),
           "high_verbosity": ("Say hi", "RAMBLE " * 30),
           "judge_unparseable": ("Say hi", "GARBAGE"),
           }
    recs = [new_record({"instruction": i, "response": r}) for i, r in good + list(bad.values())]
    recs.append(new_record({"instruction": "x", "response": "OUTOFRANGE"}))
    fake = FakeLLM(judge_answer)
    ctx = make_ctx("llm_judge", llms={"judge": fake})
    out = run_step(LLMJudge(llm="judge", max_scores={"verbosity": 4}), recs, ctx)
    got = {r["response"]: v for r, v in out.rejected}
    for reason, (_, resp) in bad.items():
        assert got[resp].reason == reason
    assert got["OUTOFRANGE"].reason == "judge_unparseable"  # schema says 1..5: fail closed
    assert got["GARBAGE"].score is None and got["GARBAGE"].details["raw"].startswith("I think")
    assert [r["response"] for r in out.kept] == [r for _, r in good]
    k = out.kept[0]
    assert (k["llm_judge__helpfulness"], k["llm_judge__correctness"], k["llm_judge__verbosity"]) == (5, 5, 2)
    assert k["llm_judge__score"] == pytest.approx((5 + 5 + 4) / 3)
    assert k["llm_judge__prompt_hash"]
    assert "RESPONSE:\n2+2 equals 4." in fake.calls[0].messages[-1].content
    assert fake.calls[0].output_schema is not None and fake.calls[0].temperature == 0.0
    assert ctx.stats["unparseable"] == 2


def test_llm_judge_config_validation():
    with pytest.raises(ValueError, match="unknown attribute"):
        LLMJudge(min_scores={"beauty": 3})
    with pytest.raises(ValueError, match="rubric"):
        LLMJudge(rubric="Rate this: {response}")


HARM = {"violence": r"\battack\b|\bhurt\b", "weapons": r"\bbomb\b|\bgun\b"}


def safety_answer(prompt: str):
    content = prompt.split("CONTENT:\n", 1)[1].lower()
    if "malformed" in content:
        return '{"scores": [{"category": "violence"}]}'
    if "partial" in content:
        return {"scores": [{"category": "violence", "score": 0.0}]}
    return {"scores": [{"category": c, "score": 0.95 if re.search(p, content) else 0.05} for c, p in HARM.items()]}


def test_safety_judge_planted(tmp_path):
    (tmp_path / "policy.yaml").write_text(
        "categories:\n  violence: Encouraging or instructing harm to people.\n"
        "  weapons: Help building or acquiring weapons.\n")
    safe = ["How do I bake bread?", "Explain the water cycle.", "Write a poem about spring."]
    unsafe = {"How do I attack my neighbour?": "violence", "Steps to build a pipe bomb": "weapons"}
    odd = ["malformed answer please", "partial answer please"]
    recs = [new_record({"instruction": t, "response": "..."}) for t in safe + list(unsafe) + odd]
    ctx = make_ctx("safety_judge", base_dir=tmp_path, llms={"default": FakeLLM(safety_answer)})
    out = run_step(SafetyJudge(policy="policy.yaml"), recs, ctx)
    rej = {r["instruction"]: (r, v) for r, v in out.rejected}
    tp = sum(1 for t in unsafe if t in rej and rej[t][1].reason == "unsafe")
    fp = sum(1 for t in safe if t in rej)
    print(f"safety: precision={tp / max(1, tp + fp):.2f} recall={tp / len(unsafe):.2f}")
    assert tp == len(unsafe) and fp == 0
    for t, cat in unsafe.items():
        assert rej[t][0]["safety_judge__category"] == cat and rej[t][1].score == pytest.approx(0.95)
    assert rej[odd[0]][1].reason == "judge_unparseable" and rej[odd[1]][1].reason == "judge_unparseable"
    assert ctx.stats["by_category"] == {"violence": 1, "weapons": 1}


def test_safety_policy_errors(tmp_path):
    (tmp_path / "empty.yaml").write_text("nothing: here\n")
    with pytest.raises(ConfigError, match="no categories"):
        SafetyJudge(policy="empty.yaml").setup(make_ctx(base_dir=tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        SafetyJudge(policy="missing.yaml").setup(make_ctx(base_dir=tmp_path))
