from __future__ import annotations

import pytest

from tether.audit import audit
from tether.audit.quality import is_boilerplate, is_refusal, is_truncated


def test_detectors():
    assert is_refusal("I'm sorry, but I can't help with that request.")
    assert is_refusal("As an AI language model, I do not have opinions.")
    assert not is_refusal("The sorry state of the bridge was fixed.")
    assert is_truncated("The father, a chef, visited the old garden and found")
    assert not is_truncated("The father visited the old garden and found it lovely.")
    assert is_truncated("Done.", finish_reason="length")
    assert is_boilerplate("Certainly! Here is a summary of the trip.")


def test_family_measures_planted_defects(real_halves, cfg):
    a, b = real_halves
    syn = []
    for i, r in enumerate(a):
        r = dict(r, judge_score=float(i % 5 + 1))
        if i % 20 == 0:  # 5% empty
            r["response"] = ""
        elif i % 20 == 1:  # 5% refusals
            r["response"] = "I'm sorry, but I can't assist with that."
        elif i % 10 == 2:  # 10% cut mid-sentence
            r["response"] = " ".join(r["response"].split()[:-3])
        elif i % 20 == 3:  # 5% boilerplate
            r["response"] = "Certainly! Here is the answer. " + r["response"]
        syn.append(r)
    cfg.families = ["quality"]
    rep = audit(syn, reference=b, config=cfg)
    assert rep.get("quality.empty_rate").value == pytest.approx(0.05)
    assert rep.get("quality.refusal_rate").value == pytest.approx(0.05)
    assert rep.get("quality.truncated_rate").value == pytest.approx(0.10, abs=0.01)
    assert rep.get("quality.boilerplate_rate").value == pytest.approx(0.05)
    for name in ("empty_rate", "refusal_rate", "truncated_rate", "boilerplate_rate"):
        assert rep.get(f"quality.{name}").status == "warn", name
    j = rep.get("quality.judge_score_mean")
    assert j.value == pytest.approx(3.0) and j.details["column"] == "judge_score"
    # collapsed variance: every response is the same length
    flat = [dict(r, response="The man found the old garden lovely.") for r in a]
    rep = audit(flat, reference=b, config=cfg)
    assert rep.get("quality.length_mean").status == "warn"


def test_family_reports_nothing_on_halves(real_halves, cfg):
    a, b = real_halves
    cfg.families = ["quality"]
    rep = audit(a, reference=b, config=cfg)
    assert rep.scorecard()["quality"] == "ok", [(r.name, r.notes) for r in rep.results if r.notes]
