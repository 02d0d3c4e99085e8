from __future__ import annotations

import random

import numpy as np
import pytest
from audit_data import make_real

from tether.audit import audit
from tether.audit.integrity import binomial_z, trigger_scan

#: The hashing embedder (char n-grams) puts templated items closer than MiniLM does: the
#: default threshold (0.8) is MiniLM's, so tests of other things use a stricter one.
HASHING_THRESHOLD = 0.95


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
               for i in range(30)]  # 30 of 200 benchmark items, in 30 of 830 synthetic records
    cfg.families = ["contamination"]
    cfg.contamination_embed_threshold = HASHING_THRESHOLD
    rep = audit(a + planted, benchmarks={"trains": bench, "other": _bench(50, 4)}, config=cfg)
    ng = rep.get("contamination.ngram_overlap")
    # the headline is the share of synthetic records; the share of the benchmark is a detail
    assert ng.value == pytest.approx(30 / 830) and ng.details["flagged_records"] == 30
    assert ng.details["benchmark_share"]["trains"] == pytest.approx(30 / 200)
    assert ng.details["benchmarks"]["trains"]["ngram"]["items"] == 30 and ng.details["worst_benchmark"] == "trains"
    assert ng.status == "warn" and ng.offenders[0]["id"].startswith("leak")
    em = rep.get("contamination.embedding_overlap")
    assert em.value == pytest.approx(30 / 830, abs=0.005)
    share = rep.get("contamination.contaminated_share")
    assert share.value == pytest.approx(30 / 830) and set(share.details["flagged_ids"]) == {r["id"] for r in planted}
    clean = audit(a, benchmarks={"trains": bench}, config=cfg)
    assert clean.scorecard()["contamination"] == "ok"


def test_contamination_share_is_of_the_synthetic_records(real_halves, cfg):
    # 10% of the synthetic records hold a benchmark item, from a benchmark twice their size:
    # the share of the benchmark that leaked is 5%, the share of contaminated records 10%
    a, _ = real_halves
    bench = _bench(160, 5)
    syn = a[:72] + [{"id": f"leak{i}", "instruction": bench[i]["question"], "response": "Some minutes."}
                    for i in range(8)]
    cfg.families = ["contamination"]
    cfg.contamination_embed_threshold = HASHING_THRESHOLD
    rep = audit(syn, benchmarks={"trains": bench}, config=cfg)
    for name in ("ngram_overlap", "contaminated_share"):
        res = rep.get(f"contamination.{name}")
        assert res.value == pytest.approx(0.1) and res.details["benchmark_share"]["trains"] == pytest.approx(0.05)
        assert res.ci[0] < 0.1 < res.ci[1]


def _swap_words(text, every=12):
    """Every ``every``-th word replaced: no 13-gram of the text survives."""
    words = text.split()
    return " ".join("something" if i % every == every - 1 else w for i, w in enumerate(words))


def test_a_question_only_record_is_found_against_a_question_and_answer_item(cfg):
    # the benchmark holds question + a long answer; the synthetic records hold a lightly
    # reworded question with an answer of their own. Compared as whole items, the answers
    # make them far apart; compared field by field (question against prompt) they match
    rng = random.Random(7)
    topics = ["volcano", "glacier", "comet", "reef", "desert", "forest", "canyon", "delta", "tundra", "lagoon"]
    def item(i):
        t = topics[i % 10]
        q = (f"Explain in detail why the {t} number {i} changed its shape over the last {rng.randint(2, 90)} "
             f"thousand years and which forces of nature were most responsible for it")
        a = " ".join(rng.choice(["erosion", "wind", "water", "heat", "pressure", "time", "ice", "salt", "rock",
                                 "sediment", "uplift", "rain"]) for _ in range(120))
        return {"id": f"b{i}", "question": q, "answer": a}
    bench = [item(i) for i in range(60)]
    own = make_real(200, seed=9, prefix="s")
    syn = own[:190] + [{"id": f"leak{i}", "instruction": _swap_words(bench[i]["question"]),
                        "response": own[190 + i]["response"] * 3} for i in range(10)]
    cfg.families = ["contamination"]
    cfg.contamination_embed_threshold = 0.75  # the hashing embedder's scale, not MiniLM's
    rep = audit(syn, benchmarks={"geo": bench}, config=cfg)
    assert rep.get("contamination.ngram_overlap").value == 0  # no 13-gram survives the rewording
    em = rep.get("contamination.embedding_overlap")
    assert em.details["flagged_records"] == 10 and em.status == "warn"
    assert {o["id"] for o in em.offenders} == {f"leak{i}" for i in range(10)}
    assert all(o["benchmark_field"] == "question" and o["record_field"] == "prompt" for o in em.offenders)


def test_short_fields_match_whole_and_boilerplate_ngrams_do_not_count(cfg):
    from tether.audit.contamination import ngram_matches
    from tether.text import normalize

    toks = lambda ts: [normalize(t).split() for t in ts]  # noqa: E731
    boiler = "as an ai language model i cannot browse the internet but i can tell you this"
    bench = [f"{boiler} about item {i} and its history" for i in range(3)] + ["what is the capital city of mongolia today"]
    syn = [f"{boiler} and nothing else at all", "so tell me what is the capital city of mongolia today please",
           "the capital city of mongolia"]
    hit, views = ngram_matches(toks(syn), toks(bench), np.arange(4), n=13, min_words=8)
    # the boilerplate 13-grams are in three benchmark items: not item-specific, no match;
    # the 9-word question matches as a whole where a record holds all of it, not a part of it
    assert hit.tolist() == [-1, 3, -1] and views.tolist() == [False, False, False, True]


def test_holdout_overlap_is_the_baseline_and_few_records_do_not_warn(real_halves, cfg):
    a, b = real_halves
    bench = _bench(200, 3)
    leak = lambda i, p: {"id": f"{p}{i}", "instruction": bench[i]["question"], "response": "Done."}  # noqa: E731
    cfg.families = ["contamination"]
    cfg.contamination_embed_threshold = HASHING_THRESHOLD
    # two contaminated records: found and listed, but too few to warn
    rep = audit(a[:400] + [leak(i, "s") for i in range(2)], holdout=b[:400], benchmarks={"t": bench}, config=cfg)
    res = rep.get("contamination.contaminated_share")
    assert res.details["flagged_records"] == 2 and res.status == "ok"
    # real data of the same kind holds the benchmark as often as the synthetic data: no excess
    rep = audit(a[:400] + [leak(i, "s") for i in range(8)], holdout=b[:400] + [leak(i, "h") for i in range(20, 28)],
                benchmarks={"t": bench}, config=cfg)
    res = rep.get("contamination.contaminated_share")
    assert res.details["flagged_records"] == 8 and res.details["baseline"] == {"set": "holdout", "records": 408, "flagged": 8, "share": 8 / 408}
    assert res.status == "ok"
    # an excess over the holdout warns
    rep = audit(a[:400] + [leak(i, "s") for i in range(30)], holdout=b[:400], benchmarks={"t": bench}, config=cfg)
    res = rep.get("contamination.contaminated_share")
    assert res.status == "warn" and res.details["p_value"] < 0.001
    # without a holdout the reference is the baseline
    rep = audit(a[:400] + [leak(i, "s") for i in range(8)], reference=b[:400] + [leak(i, "r") for i in range(20, 28)],
                benchmarks={"t": bench}, config=cfg)
    res = rep.get("contamination.contaminated_share")
    assert res.details["baseline"]["set"] == "reference" and res.status == "ok"


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
