from __future__ import annotations

import numpy as np
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


def test_excess_rate_test_is_fishers_exact():
    from tether.audit.quality import excess_rate_test

    # all 5 flagged records on the synthetic side of 5 + 5: one split in C(10, 5) = 252
    assert excess_rate_test(5, 5, 0, 5) == pytest.approx(1 / 252)
    assert excess_rate_test(0, 100, 3, 100) == pytest.approx(1.0)


def _with_response(records, texts):
    return [dict(r, response=t) for r, t in zip(records, texts, strict=True)]


def test_chance_differences_between_halves_do_not_warn(real_halves, cfg):
    """126-record halves of one real set: 4 cut-off answers against none, and 30% boilerplate
    openings on both sides (as GPT-4o answers have), are chance and the data's own style, not
    defects; a planted 20% of cut answers is."""
    a, b = real_halves
    a, b = a[:126], b[:126]
    ok_text = "The man found the old garden lovely and walked home."
    syn_resp = [("Certainly! Here is my answer. " if i % 10 < 3 else "") + ok_text for i in range(126)]
    ref_resp = [("Certainly! Here is my answer. " if i % 10 < 3 else "") + ok_text for i in range(126)]
    for i in range(4):
        syn_resp[i * 30 + 1] = "The man found the old garden lovely and walked home along"
    cfg.families = ["quality"]
    rep = audit(_with_response(a, syn_resp), reference=_with_response(b, ref_resp), config=cfg)
    assert rep.get("quality.boilerplate_rate").value == pytest.approx(0.3, abs=0.03)
    trunc = rep.get("quality.truncated_rate")
    assert trunc.details["count"] == 4 and trunc.details["reference"] == 0.0
    assert rep.scorecard()["quality"] == "ok", [(r.name, r.notes) for r in rep.results if r.notes]
    cut = list(syn_resp)
    for i in range(0, 126, 5):
        cut[i] = "The man found the old garden lovely and walked home along"
    rep = audit(_with_response(a, cut), reference=_with_response(b, ref_resp), config=cfg)
    trunc = rep.get("quality.truncated_rate")
    assert trunc.value > 0.2 and trunc.status == "warn" and trunc.details["p_value"] < 0.001


def test_length_spread_of_small_heavy_tailed_samples_is_judged_against_chance(real_halves, cfg):
    """Lengths from one heavy-tailed distribution: on 25 records a side the standard deviation
    of one sample is often under half the other's by chance; the Brown-Forsythe test keeps
    that from warning, while a real collapse of the spread still warns."""
    a, b = real_halves
    rng = np.random.default_rng(4)
    cfg.families = ["quality"]
    ratios = []
    for _ in range(16):
        la, lb = (np.minimum(np.exp(rng.normal(3, 2.0, 25)).astype(int) + 5, 2000) for _ in range(2))
        syn = _with_response(a[:25], [" ".join(["word"] * int(k)) + "." for k in la])
        ref = _with_response(b[:25], [" ".join(["word"] * int(k)) + "." for k in lb])
        rep = audit(syn, reference=ref, config=cfg)
        res = rep.get("quality.length_mean")
        ratios.append(res.details["std"] / res.details["reference_std"])
        assert res.status == "ok", res.notes
    assert min(ratios) < 0.5  # chance alone halves the spread in some of these samples
    flat = _with_response(a, ["The man found the old garden lovely."] * len(a))
    assert audit(flat, reference=b, config=cfg).get("quality.length_mean").status == "warn"


def test_fixed_thresholds_without_a_reference(real_halves, cfg):
    a, _ = real_halves
    syn = [dict(r, response="I'm sorry, but I can't assist with that.") if i % 25 == 0 else r
           for i, r in enumerate(a)]  # 4% refusals
    cfg.families = ["quality"]
    rep = audit(syn, config=cfg)
    ref = rep.get("quality.refusal_rate")
    assert ref.value == pytest.approx(0.04) and ref.status == "warn" and "no reference" in ref.notes[0]
    assert rep.get("quality.empty_rate").status == "ok"
