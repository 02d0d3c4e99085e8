"""distill (+ preference pairs), refine and evol_instruct against scripted models."""

from __future__ import annotations

import json
import re

from gen_helpers import run_steps

from tether.generate import Distill, EvolInstruct, PreferencePairs, Refine
from tether.generate.evol_instruct import elimination_reason
from tether.generate.testing import ScriptedLLM, request_text, schema_name
from tether.llm.cache import request_key
from tether.llm.types import LLMRequest


def prompts(*texts: str) -> list[dict]:
    return [{"id": f"p{i}", "prompt": t, "instruction": t, "lineage": None} for i, t in enumerate(texts)]


# ------------------------------------------------------------------ distill
def teacher(req: LLMRequest) -> list[str]:
    return ["short", "a longer answer here", "the longest answer of all here", "mid answer"][: req.n]


def length_judge(req: LLMRequest) -> str:
    text = request_text(req)
    if "UNREADABLE" in text:
        return "ten out of ten"
    response = text.split("Response:\n")[1].split("\n\nReply")[0]
    return json.dumps({"score": min(10, len(response.split()) * 2), "reason": "length"})


def test_distill_samples_and_judge_pairs() -> None:
    out, _ = run_steps([Distill(n=3)], prompts("Why is the sky blue?"), llms={"default": ScriptedLLM(teacher)})
    assert [r["response"] for r in out.kept] == ["short", "a longer answer here", "the longest answer of all here"]
    assert [r["sample_index"] for r in out.kept] == [0, 1, 2]
    assert all(r["lineage"]["parents"] == ["p0"] and r["lineage"]["recipe"] == "distill" for r in out.kept)

    llms = {"default": ScriptedLLM(teacher), "judge": ScriptedLLM(length_judge, model="scripted:judge")}
    out, _ = run_steps([Distill(n=4, preference="judge", judge_llm="judge", min_margin=1)],
                       prompts("Why is the sky blue?"), llms=llms)
    (pair,) = out.kept
    assert pair["chosen"] == "the longest answer of all here" and pair["rejected"] == "short"
    assert pair["chosen_score"] == 10 and pair["rejected_score"] == 2 and pair["score_margin"] == 8
    # the samples between the best and the worst are set aside with their scores: 4 = 2 paired + 2
    assert sorted((r["response"], v.reason, v.score) for r, v in out.rejected) == [
        ("a longer answer here", "not_paired", 8.0), ("mid answer", "not_paired", 4.0)]
    assert all(r["lineage"]["parents"] == ["p0"] and r["sample_index"] in (1, 3) for r, _ in out.rejected)
    assert len(llms["judge"].requests) == 4 and all(r.temperature == 0.0 for r in llms["judge"].requests)


def test_distill_rejects_prompts_without_a_margin() -> None:
    llms = {"default": ScriptedLLM(lambda req: ["same words"] * req.n), "judge": ScriptedLLM(length_judge)}
    out, _ = run_steps([Distill(n=2, preference="judge", judge_llm="judge")], prompts("Q?", "UNREADABLE"), llms=llms)
    assert not out.kept
    reasons = {r["id"]: v.reason for r, v in out.rejected}
    assert reasons == {"p0": "no_preference_margin", "p1": "too_few_scored"}
    assert all(r["distill__responses"] == ["same words", "same words"] for r, _ in out.rejected)


def test_preference_pairs_from_reward_scores() -> None:
    recs = [{"id": f"s{i}", "prompt": p, "response": f"r{i}", "reward__score": s, "lineage": None}
            for i, (p, s) in enumerate([("a", 0.1), ("a", 0.9), ("a", 0.5), ("b", 0.3), ("b", 0.3)])]
    out, _ = run_steps([PreferencePairs(score_column="reward__score", min_margin=0.1)], recs)
    (pair,) = out.kept
    assert (pair["chosen"], pair["rejected"]) == ("r1", "r0") and pair["lineage"]["parents"] == ["s0", "s1", "s2"]
    assert sorted(r["id"] for r, v in out.rejected if v.reason == "no_preference_margin") == ["s3", "s4"]


# ------------------------------------------------------------------ refine
def refiner(req: LLMRequest) -> str:
    text = request_text(req)
    if schema_name(req) == "Critique":
        response = text.split("Response:\n")[1].split("\n\nSay whether")[0]
        if "insult" in response:
            return json.dumps({"needs_revision": True, "critique": "Principle 1: no insults."})
        return json.dumps({"needs_revision": False, "critique": "Fine."})
    if "Critique:" in text:
        return "A polite answer." if "rude" not in text else "Still an insult, idiot."
    return "An insult: you fool." if "rude" not in text else "An insult, rude one."


def test_refine_critiques_and_revises_until_the_principles_hold() -> None:
    step = Refine(principles=["Never insult the user."], max_rounds=3)
    out, _ = run_steps([step], prompts("Say hello", "Say hello, rude version"), llms={"default": ScriptedLLM(refiner)})
    fixed, stuck = out.kept
    assert fixed["response"] == "A polite answer." and fixed["initial_response"] == "An insult: you fool."
    assert [r["needs_revision"] for r in fixed["refine_rounds"]] == [True, False] and fixed["revised"]
    assert fixed["refine_rounds"][0]["revise_prompt_hash"] and fixed["refine_round"] == 1
    assert len(stuck["refine_rounds"]) == 3 and all(r["needs_revision"] for r in stuck["refine_rounds"])


def test_refine_keeps_every_round_in_lineage() -> None:
    """Each response is a record chained to the one before; all but the last are rejected as
    superseded, with the prompt hash of the call that wrote them."""
    llm = ScriptedLLM(refiner)
    out, _ = run_steps([Refine(principles=["Never insult the user."], max_rounds=3)],
                       prompts("Say hello", "Say hello, rude version"), llms={"default": llm})
    assert {v.reason for _, v in out.rejected} == {"superseded_round"}
    records = {r["id"]: r for r in [*out.kept, *(r for r, _ in out.rejected)]}

    def chain(final: dict) -> list[dict]:
        links = [final]
        while links[-1]["lineage"]["parents"][0] in records:
            links.append(records[links[-1]["lineage"]["parents"][0]])
        return links[::-1]

    fixed, stuck = out.kept
    first, last = chain(fixed)
    assert first["lineage"]["parents"] == ["p0"] and last is fixed
    assert (first["refine_round"], first["response"], first["refine_rounds"]) == (0, "An insult: you fool.", [])
    rounds = chain(stuck)
    assert [r["refine_round"] for r in rounds] == [0, 1, 2, 3] and rounds[0]["lineage"]["parents"] == ["p1"]
    assert [len(r["refine_rounds"]) for r in rounds] == [0, 1, 2, 3]
    # counts add up: 2 in, 2 kept, every superseded round rejected (1 + 3)
    assert len(out.kept) == 2 and len(out.rejected) == 4
    # each record names the call that wrote it: the first answer, then each revision
    writes = [r for r in llm.requests if schema_name(r) is None]
    by_text = {request_text(r): request_key(llm.model_identity, r)  # the client's cache key of each call
               for r in writes}
    assert first["lineage"]["prompt_hash"] == by_text["Say hello"]
    assert [r["lineage"]["prompt_hash"] for r in rounds[1:]] == [e["revise_prompt_hash"] for e in stuck["refine_rounds"]]
    assert rounds[0]["lineage"]["prompt_hash"] == by_text["Say hello, rude version"]


def test_refine_on_a_given_response_chains_from_the_input() -> None:
    recs = [{"id": "a", "instruction": "Greet me", "reply": "Hi, you fool, an insult.", "lineage": None},
            {"id": "b", "instruction": "Greet me", "reply": "Hello!", "lineage": None}]
    out, _ = run_steps([Refine(principles=["Never insult the user."], response_column="reply")], recs,
                       llms={"default": ScriptedLLM(refiner)})
    revised, fine = out.kept
    assert revised["lineage"]["parents"] == ["a"] and revised["refine_round"] == 1 and revised["revised"]
    assert fine["lineage"]["parents"] == ["b"] and fine["refine_round"] == 0 and not fine["revised"]
    assert not out.rejected  # the input is round 0: nothing here is superseded


def test_refine_uses_a_principles_file(tmp_path) -> None:
    (tmp_path / "c.yaml").write_text("principles:\n  - Be brief.\n  - Cite a source.\n", encoding="utf-8")
    llm = ScriptedLLM(refiner)
    run_steps([Refine(principles_file="c.yaml", max_rounds=1)], prompts("Hi"), llms={"default": llm},
              base_dir=tmp_path)
    crit = next(request_text(r) for r in llm.requests if schema_name(r) == "Critique")
    assert "1. Be brief.\n2. Cite a source." in crit


# ------------------------------------------------------------------ evol_instruct
def test_elimination_rules() -> None:
    assert elimination_reason("Name a fruit.", "name a fruit", None) == "no_new_information"
    assert elimination_reason("Name a fruit.", "#Rewritten Prompt#: Name a red fruit", None) == "copied_prompt"
    assert elimination_reason("Name a fruit.", "Name a red fruit.", "Sorry, I cannot help.") == "refusal"
    assert elimination_reason("Name a fruit.", "Name a red fruit.", "Sorry " + "word " * 90) is None
    assert elimination_reason("Name a fruit.", "Name a red fruit.", "... it is, yes!") == "empty_response"
    assert elimination_reason("Name a fruit.", "Name a red fruit.", "Cherry.") is None


def test_evol_instruct_chains_rounds_and_rejects_failed_evolutions() -> None:
    calls: list[str] = []

    def evolver(req: LLMRequest) -> str:
        text = request_text(req)
        if schema_name(req) == "Equality":
            return json.dumps({"equal": "SAME" in text.split("Second instruction:")[1]})
        m = re.search(r"Given prompt:\n(.*)", text)
        if m is None:  # answering an evolved instruction
            return "Sorry, no." if "refuse" in text else "Here is a full answer."
        given = m.group(1)
        calls.append(given)
        return {1: f"{given} +constraint", 2: "Rewritten prompt: copy", 3: f"{given} +refuse",
                4: f"{given} SAME", 5: f"{given} +more"}[len(calls)]

    out, _ = run_steps([EvolInstruct(rounds=5, methods=["constraints"])], prompts("Plan a trip."),
                       llms={"default": ScriptedLLM(evolver)})
    assert [r["instruction"] for r in out.kept] == ["Plan a trip. +constraint", "Plan a trip. +constraint +more"]
    assert [v.reason for _, v in out.rejected] == ["copied_prompt", "refusal", "no_new_information"]
    # a failed round leaves the next one evolving the last good instruction
    assert calls[1:] == ["Plan a trip. +constraint"] * 4
    assert out.kept[1]["lineage"]["parents"] == [out.kept[0]["id"]] and out.kept[1]["evol_round"] == 5
    first = out.kept[0]
    assert first["evol_round"] == 1 and first["evolved_from"] == "Plan a trip." and first["lineage"]["parents"] == ["p0"]
