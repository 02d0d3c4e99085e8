from __future__ import annotations

import math
import random

import numpy as np
import pytest

from tether.audit import audit
from tether.audit.diversity import (
    compression_ratio,
    distinct_n,
    near_duplicates,
    prefix_rate,
    self_repetition_scores,
    vendi_score,
)


def test_distinct_n_closed_form():
    # "the cat sat on the mat": 6 unigrams, 5 distinct; 5 bigrams, all distinct
    assert distinct_n(["the cat sat on the mat"], 1) == pytest.approx(5 / 6)
    assert distinct_n(["the cat sat on the mat"], 2) == 1.0
    assert distinct_n(["a a a a"], 2) == pytest.approx(1 / 3)
    with pytest.warns(RuntimeWarning):
        assert math.isnan(distinct_n([""], 2))


def test_vendi_closed_form():
    # k orthogonal items, each repeated m times: the Vendi score is exactly k
    k, m = 7, 30
    emb = np.repeat(np.eye(16)[:k], m, axis=0)
    assert vendi_score(emb) == pytest.approx(k, rel=1e-6)
    assert vendi_score(np.repeat(np.eye(16)[:1], 50, axis=0)) == pytest.approx(1.0)


def test_compression_and_self_repetition_see_repeats():
    varied = [f"record {i} about topic {i * 7 % 13} and {i * 3 % 11}" for i in range(200)]
    repeated = ["the same sentence appears here again and again"] * 200
    assert compression_ratio(repeated) > 5 * compression_ratio(varied)
    scores = self_repetition_scores(["a b c d e", "a b c d x", "p q r s t"])
    assert scores.tolist() == pytest.approx([0.5, 0.5, 0.0])


def test_prefix_rate_counts_templated_openings():
    texts = ["As an expert I say " + str(i) for i in range(30)] + [f"word{i} other{i} more{i}" for i in range(70)]
    rate, common = prefix_rate(texts, words=3, top=10)
    assert rate == pytest.approx(0.3)
    assert common[0] == ("as an expert", 30)


def test_near_duplicates_minhash():
    base = [f"the {i} quick brown fox number {i} jumps over the lazy dog {i} times today" for i in range(50)]
    marks = near_duplicates(base + [base[3], base[7]], threshold=0.8)
    assert marks[-2:] == [3, 7] and all(m == -1 for m in marks[:50])


def _planted(real, rng):
    out = []
    for i, r in enumerate(real):
        r = dict(r)
        if i % 5 < 2:  # 40% templated
            r["instruction"] = "As a helpful assistant, " + r["instruction"]
        out.append(r)
    return out


def test_family_detects_templates_duplicates_and_collapse(real_halves, cfg):
    a, b = real_halves
    rng = random.Random(0)
    syn = _planted(a, rng)
    dup = [dict(a[i], id=f"dup{i}") for i in range(80)]  # 80 exact copies: 80 / 880 near duplicates
    cfg.families = ["diversity"]
    rep = audit(syn + dup, reference=b, config=cfg)
    pr = rep.get("diversity.prefix_rate")
    # 320 of 880 records carry the template, which the reference never opens with
    assert pr.details["excess_over_reference"] == pytest.approx(320 / 880, abs=0.04) and pr.status == "warn"
    assert pr.details["top_openings"][0]["opening"] == "as a helpful"
    nd = rep.get("diversity.near_duplicate_rate")
    assert nd.value == pytest.approx(80 / 880, abs=0.01) and nd.status == "warn"
    assert {o["duplicate_of"] for o in nd.offenders} <= {r["id"] for r in a}

    collapsed = [dict(a[i % 20], id=f"c{i}") for i in range(400)]  # 20 distinct records
    rep = audit(collapsed, reference=b, config=cfg)
    assert rep.get("diversity.vendi_score").status == "warn"
    assert rep.get("diversity.cluster_entropy").status == "warn"
    assert rep.get("diversity.distinct_4").status == "warn"


def test_family_reports_nothing_on_halves(real_halves, cfg):
    a, b = real_halves
    cfg.families = ["diversity"]
    rep = audit(a, reference=b, config=cfg)
    assert rep.scorecard()["diversity"] == "ok", [(r.name, r.notes) for r in rep.results if r.notes]
