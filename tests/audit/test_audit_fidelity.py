from __future__ import annotations

import numpy as np
import pytest

from tether.audit import audit
from tether.audit.fidelity import c2st_auc, frechet_distance, mauve_score, prdc, unigram_jsd


def test_c2st_null_value_on_one_distribution():
    rng = np.random.default_rng(0)
    auc, _, _ = c2st_auc(rng.normal(size=(600, 8)), rng.normal(size=(600, 8)))
    assert abs(auc - 0.5) < 0.05
    auc, _, _ = c2st_auc(rng.normal(size=(600, 8)) + 1.0, rng.normal(size=(600, 8)))
    assert auc > 0.9


def test_prdc_null_values_on_gaussians():
    # Naeem et al. 2020: for identical distributions E[density] = 1, E[coverage] = 1 - 2^-k
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    s = prdc(real, fake, k=5)
    assert s["density"] == pytest.approx(1.0, abs=0.08)
    assert s["coverage"] == pytest.approx(1 - 2**-5, abs=0.03)
    shifted = prdc(real, fake + 3.0, k=5)
    assert shifted["density"] < 0.3 and shifted["coverage"] < 0.3


def test_frechet_closed_form():
    # FD(N(m1, S), N(m2, S)) = |m1 - m2|^2; two samples of one Gaussian give only the small sampling bias
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5000, 8)), rng.normal(size=(5000, 8))
    base = frechet_distance(a, b)
    assert base < 0.02
    delta = np.full(8, 0.5)
    assert frechet_distance(a, b + delta) - base == pytest.approx(float(delta @ delta), rel=0.05)


def test_mauve_separates_distributions():
    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(800, 16)), rng.normal(size=(800, 16))
    same = mauve_score(p, q, buckets=20)
    far = mauve_score(p + 4.0, q, buckets=20)
    assert same > 0.9 and far < 0.2


def test_unigram_jsd_bounds():
    assert unigram_jsd(["a b c"], ["a b c"]) == pytest.approx(0.0)
    assert unigram_jsd(["a b"], ["c d"]) == pytest.approx(1.0)


def test_family_finds_a_giveaway_and_collapsed_lengths(real_halves, cfg):
    a, b = real_halves
    cfg.families = ["fidelity"]
    syn = [dict(r, response=r["response"] + " Let us delve deeper.") for r in a]
    rep = audit(syn, reference=b, config=cfg)
    c2 = rep.get("fidelity.c2st_tfidf_auc")
    assert c2.value > 0.95 and c2.status == "warn"
    assert any("delve" in g["ngram"] for g in c2.details["giveaway_ngrams"][:5])
    # collapsed variance: every synthetic response is one short sentence
    short = [dict(r, response=r["response"].split(". ")[0].rstrip(".") + ".") for r in a]
    rep = audit(short, reference=b, config=cfg)
    assert rep.get("fidelity.ks_length").status == "warn"
    assert rep.get("fidelity.ks_length").value > 0.3


def test_family_reports_nothing_on_halves(real_halves, cfg):
    a, b = real_halves
    cfg.families = ["fidelity"]
    rep = audit(a, reference=b, config=cfg)
    assert rep.scorecard()["fidelity"] == "ok", [(r.name, r.notes) for r in rep.results if r.notes]
    c2 = rep.get("fidelity.c2st_tfidf_auc")
    assert c2.ci[0] <= 0.5 + 0.02 and abs(c2.value - 0.5) < 0.06
    assert rep.plots["embedding_map"]["points"]
    assert set(rep.plots["token_frequency"]["series"]) == {"synthetic", "reference"}
