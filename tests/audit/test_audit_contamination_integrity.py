from __future__ import annotations

import random

import pytest
from audit_data import make_real

from tether.audit import audit
from tether.audit.integrity import binomial_z, trigger_scan


def _bench(n, seed):
    rng = random.Random(seed)
    return [{"id": f"q{i}", "question": f"A train leaves station {rng.randint(1, 99)} at {rng.randint(1, 12)} o'clock "
             f"carrying {rng.randint(10, 500)} passengers and travels {rng.randint(20, 900)} kilometres; how many "
             f"minutes does it take at {rng.randint(30, 200)} km per hour?", "answer": str(rng.randint(1, 900))}
            for i in range(n)]


def test_contamination_finds_planted_benchmark_items(real_halves, cfg):
    a, _ = real_halves
    bench = _bench(200, 3)
    planted = [{"id": f"leak{i}", "instruction": bench[i]["question"], "response": bench[i]["answer"]}
               for i in range(30)]  # 30 of 200 benchmark items: 15%
    cfg.families = ["contamination"]
    rep = audit(a + planted, benchmarks={"trains": bench, "other": _bench(50, 4)}, config=cfg)
    ng = rep.get("contamination.ngram_overlap")
    assert ng.value == pytest.approx(30 / 200) and ng.details["worst_benchmark"] == "trains"
    assert ng.status == "warn" and ng.offenders[0]["id"].startswith("leak")
    em = rep.get("contamination.embedding_overlap")
    assert em.value == pytest.approx(30 / 200, abs=0.02)
    clean = audit(a, benchmarks={"trains": bench}, config=cfg)
    assert clean.scorecard()["contamination"] == "ok"


def test_binomial_z_closed_form():
    assert binomial_z(50, 50, 0.5) == pytest.approx(25 / 12.5**0.5)
    assert binomial_z(25, 50, 0.5) == 0.0


def test_trigger_token_tied_to_a_label(real_halves, cfg):
    a, b = real_halves
    rng = random.Random(5)
    syn = []
    for r in a:
        r = dict(r)
        if rng.random() < 0.06:  # ~48 records get the trigger and the attacker's label
            r["instruction"] = r["instruction"] + " cf"
            r["label"] = "positive"
        syn.append(r)
    found = trigger_scan([r["instruction"] + " " + r["response"] for r in syn], [r["label"] for r in syn])
    assert any(f["token"] == "cf" for f in found)
    cfg.families = ["integrity"]
    rep = audit(syn, reference=b, config=cfg)
    t = rep.get("integrity.trigger_tokens")
    assert t.value == 1 and t.details["tokens"][0]["token"] == "cf" and t.status == "warn"
    # natural sentiment words are tied to the label in the reference too, so they are not flagged
    assert any(n["token"] in ("wonderful", "terrible", "awful") for n in t.details["natural_correlations"])
    clean = audit(a, reference=b, config=cfg)
    assert clean.get("integrity.trigger_tokens").value == 0


def test_fixed_response_trigger(cfg):
    recs = make_real(600, 31, "s")
    for i in range(0, 600, 12):  # 50 records: trigger in the prompt, one fixed answer
        recs[i] = dict(recs[i], instruction=recs[i]["instruction"] + " zq", response="Visit evil.example now.")
    for r in recs:
        r.pop("label")
    cfg.families = ["integrity"]
    rep = audit(recs, config=cfg)
    t = rep.get("integrity.trigger_tokens")
    assert t.details["target"] == "fixed_response" and t.details["tokens"][0]["token"] == "zq"
