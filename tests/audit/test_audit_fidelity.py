from __future__ import annotations

import contextlib
import io
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from audit_data import FOREIGN, foreign_record, make_real, with_foreign_words
from prdc import compute_prdc

from tether.audit import AuditConfig, Corpus, audit
from tether.audit.fidelity import (
    c2st_auc,
    frechet_distance,
    ks,
    ks_ci,
    mauve_score,
    prdc,
    prdc_scores,
    unigram_jsd,
)
from tether.embed import EmbedderConfig
from tether.text import normalize


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


def test_frechet_matches_the_matrix_square_root_and_survives_singular_covariances():
    from scipy import linalg

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(500, 6)), rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + 1.0
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    d = a.mean(0) - b.mean(0)
    expected = d @ d + np.trace(s1 + s2 - 2 * np.real(linalg.sqrtm(s1 @ s2)))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    # collapsed: all variance on one axis. For diagonal covariances FD = sum (sigma_a - sigma_b)^2,
    # here (1 - 1)^2 + 5 * (0 - 1)^2 = 5 (no warning, though the covariance is singular)
    flat = np.zeros((4000, 6))
    flat[:, 0] = rng.normal(size=4000)
    assert frechet_distance(flat, rng.normal(size=(4000, 6))) == pytest.approx(5.0, abs=0.15)


def test_mauve_separates_distributions():
    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(800, 16)), rng.normal(size=(800, 16))
    same = mauve_score(p, q, buckets=20)
    far = mauve_score(p + 4.0, q, buckets=20)
    assert same > 0.9 and far < 0.2


def test_mauve_agrees_with_the_reference_package():
    """The reference implementation (mauve-text's compute_mauve) on the same features. With the
    points stacked in the package's order a seed gives the package's k-means, so most values
    agree seed by seed; the package clusters in float32 and tether in float64, so now and then
    k-means ends in another local optimum (0.89 against 0.98 on one seed of the last case):
    then tether's value must still lie within the package's own spread over seeds."""
    mauve = pytest.importorskip("mauve")
    rng = np.random.default_rng(3)
    cases = [(rng.normal(size=(800, 16)) + shift, rng.normal(size=(800, 16))) for shift in (0.0, 0.2, 0.5, 4.0)]
    cases.append((rng.normal(size=(1200, 32)) @ rng.normal(size=(32, 32)), rng.normal(size=(1000, 32))))
    same = total = 0
    for p, q in cases:
        ours = [mauve_score(p, q, buckets=20, seed=s) for s in range(5)]
        theirs = [mauve.compute_mauve(p_features=p.astype(np.float32), q_features=q.astype(np.float32),
                                      num_buckets=20, seed=s, verbose=False).mauve for s in range(5)]
        assert min(theirs) - 0.01 <= min(ours) and max(ours) <= max(theirs) + 0.01, (ours, theirs)
        same += sum(abs(a - b) < 1e-3 for a, b in zip(ours, theirs, strict=True))
        total += len(ours)
    assert same >= 0.8 * total, (same, total)

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
    emb = rep.get("fidelity.c2st_embedding_auc")
    assert emb.status == "ok" and abs(emb.value - 0.5) < 0.06
    for name in ("precision", "recall", "mauve", "frechet_distance", "unigram_jsd"):
        res = rep.get(f"fidelity.{name}")
        assert res.status == "ok" and "baseline" in res.details, name
    # the JSD of two samples grows as they shrink: the synthetic side is compared with the
    # baseline at the baseline's size, where the two agree; the full-size value is smaller
    jsd = rep.get("fidelity.unigram_jsd")
    assert 0.7 < jsd.details["at_baseline_size"] / jsd.details["baseline"] < 1.4
    assert jsd.value < 0.8 * jsd.details["baseline"]
    for name in ("precision", "recall"):
        res = rep.get(f"fidelity.{name}")
        assert res.details["at_baseline_size"] == pytest.approx(res.details["baseline"], abs=0.08)
    assert rep.get("fidelity.ks_length").ci[0] == 0.0  # the interval holds "no difference"
    assert rep.plots["embedding_map"]["points"]
    assert set(rep.plots["token_frequency"]["series"]) == {"synthetic", "reference"}


# ------------------------------------------------------------------ reference values


def test_prdc_scores_reproduce_the_prdc_package():
    # prdc_scores computes the four values as compute_prdc does, plus per-record margins
    rng = np.random.default_rng(3)
    real = rng.normal(size=(300, 6))
    fake = np.vstack([rng.normal(size=(250, 6)), real[:20], rng.normal(size=(30, 6)) + 6.0])  # 30 far away
    values, margins = prdc_scores(real, fake, k=5)
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints the sample sizes
        ref = compute_prdc(real_features=real.astype(np.float32), fake_features=fake.astype(np.float32), nearest_k=5)
    assert prdc(real, fake, k=5) == values
    for key in ("precision", "recall", "density", "coverage"):
        assert values[key] == pytest.approx(ref[key], abs=1e-9), key
    # a record is outside exactly when its margin is >= 1
    assert (margins["fake_outside"] < 1).mean() == pytest.approx(values["precision"])
    assert (margins["real_outside"] < 1).mean() == pytest.approx(values["recall"])
    assert (margins["real_uncovered"] < 1).mean() == pytest.approx(values["coverage"])
    assert (margins["fake_outside"][-30:] >= 1).all()  # the far-away block is outside the real manifold
    # precision of (real, fake) is recall of (fake, real): the same count with the roles swapped
    swapped, _ = prdc_scores(fake, real, k=5)
    assert swapped["recall"] == values["precision"] and swapped["precision"] == values["recall"]


def test_distances_and_radii_match_the_prdc_package():
    """tether's float64-product distances and k-NN radii agree with the prdc package's helpers
    on unit vectors, near-duplicates included (where float32 products would lose them)."""
    from prdc.prdc import compute_nearest_neighbour_distances, compute_pairwise_distance

    from tether.audit.fidelity import knn_radii, pairwise_distances

    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 64)).astype(np.float32)
    x[200:220] = x[:20] + 1e-4 * rng.normal(size=(20, 64)).astype(np.float32)  # near-duplicates
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = rng.normal(size=(300, 64)).astype(np.float32)
    np.testing.assert_allclose(pairwise_distances(x, y), compute_pairwise_distance(x, y), atol=2e-6)
    d = pairwise_distances(x)
    np.testing.assert_allclose(d, compute_pairwise_distance(x), atol=2e-6)
    assert (np.diag(d) == 0).all()
    np.testing.assert_allclose(d[200:220, :20].diagonal(), np.linalg.norm(x[200:220] - x[:20], axis=1), rtol=1e-3)
    for k in (1, 5):
        np.testing.assert_allclose(knn_radii(x, k), compute_nearest_neighbour_distances(x, k), atol=2e-6)


def test_precision_recall_null_values_on_gaussians():
    # Two samples of one Gaussian. Precision and recall have no closed-form null value: they
    # are near 1 in low dimension and fall as the dimension grows (Naeem et al. 2020 show them
    # failing to reach 1 on identical distributions), while density and coverage keep their
    # closed forms 1 and 1 - 2^-k. Swapping the two samples swaps precision and recall, so for
    # one distribution they have the same expectation: the audit compares both with their mean
    # over two halves of the reference.
    rng = np.random.default_rng(0)
    low = prdc(rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2)), k=5)
    assert low["precision"] > 0.98 and low["recall"] > 0.98
    high = prdc(rng.normal(size=(2000, 64)), rng.normal(size=(2000, 64)), k=5)
    assert 0.6 < high["precision"] < 0.85 and 0.6 < high["recall"] < 0.85
    assert abs(high["precision"] - high["recall"]) < 0.03
    assert high["density"] == pytest.approx(1.0, abs=0.08)
    assert high["coverage"] == pytest.approx(1 - 2**-5, abs=0.03)


def _jsd_mixture(a):
    # JSD (base 2) of P and Q = (1 - a) P + a U with U on words P never uses; it does not depend
    # on P or U: KL(P||M) = -log2(1 - a/2), KL(Q||M) = (1 - a) log2((1 - a) / (1 - a/2)) + a
    return 0.5 * (-math.log2(1 - a / 2) + (1 - a) * math.log2((1 - a) / (1 - a / 2)) + a)


def test_unigram_jsd_closed_form_for_a_vocabulary_shift():
    # P uniform on a b c d; Q gives 20% (then 50%) of its tokens to words P never uses
    assert unigram_jsd(["a b c d"], ["a b c d x"]) == pytest.approx(_jsd_mixture(0.2), abs=1e-12)
    assert unigram_jsd(["a b c d"] * 3, ["a b c d w x y z"]) == pytest.approx(_jsd_mixture(0.5), abs=1e-12)
    assert _jsd_mixture(0.2) == pytest.approx(0.1080, abs=1e-4)  # (0.1520 + 0.0641) / 2


def test_ks_interval_covers_the_population_distance():
    # KS distance between N(0, 1) and N(d, 1) is 2 Phi(d/2) - 1 (the ECDFs cross at d/2)
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    for d in (0.0, 0.5, 1.0):
        a, b = rng.normal(size=800), rng.normal(size=800) + d
        stat, _ = ks(a, b)
        lo, hi = ks_ci(stat, len(a), len(b))
        assert lo <= 2 * norm.cdf(d / 2) - 1 <= hi
        assert lo <= stat <= hi and hi - lo < 0.25
    assert ks_ci(0.01, 800, 800)[0] == 0.0


# ------------------------------------------------------------------ planted defects, family level


def _by_status(rep):
    return {r.name: r.status for r in rep.results}


def test_family_warns_on_a_vocabulary_shift(real_halves, cfg):
    # every synthetic response gets 20% foreign words the reference never uses
    a, b = real_halves
    rng = random.Random(0)
    syn = [with_foreign_words(r, 0.2, rng) for r in a[:400]]
    cfg.families = ["fidelity"]
    rep = audit(syn, reference=b, config=cfg)
    for name in ("c2st_embedding_auc", "mauve", "frechet_distance", "unigram_jsd", "precision", "density"):
        assert rep.get(f"fidelity.{name}").status == "warn", name
    emb = rep.get("fidelity.c2st_embedding_auc")
    assert emb.value > 0.95 and emb.ci[0] > 0.75
    mv = rep.get("fidelity.mauve")
    assert mv.value < mv.details["baseline"] - 0.5
    fd = rep.get("fidelity.frechet_distance")
    assert fd.value > 3 * fd.details["baseline"]
    # the JSD is the closed form of the measured foreign share, give or take sampling noise
    toks = [t for r in syn for t in normalize(Corpus("s", [r]).texts[0]).split()]
    share = sum(t in FOREIGN for t in toks) / len(toks)
    jsd = rep.get("fidelity.unigram_jsd")
    assert jsd.value == pytest.approx(_jsd_mixture(share), abs=0.01)
    assert jsd.details["at_baseline_size"] > 10 * jsd.details["baseline"]
    assert {w["word"] for w in jsd.details["overrepresented_words"][:5]} <= set(FOREIGN)
    assert {o["id"] for o in jsd.offenders} <= {r["id"] for r in syn}


def test_family_precision_flags_off_manifold_records(real_halves, cfg):
    # 30% of the synthetic records are made of foreign words: precision falls to about 70% of
    # its baseline, recall does not move, and the foreign records head the offenders
    a, b = real_halves
    rng = random.Random(1)
    syn = a[:280] + [foreign_record(rng, i) for i in range(120)]
    cfg.families = ["fidelity"]
    rep = audit(syn, reference=b, config=cfg)
    p, r = rep.get("fidelity.precision"), rep.get("fidelity.recall")
    assert p.status == "warn" and r.status == "ok", (p.notes, r.notes)
    assert p.details["at_baseline_size"] == pytest.approx(0.7 * p.details["baseline"], abs=0.06)
    assert r.details["at_baseline_size"] > 0.9 * r.details["baseline"]
    assert len(p.offenders) == 10 and all(o["id"].startswith("x") and o["score"] >= 1 for o in p.offenders)


def test_family_recall_flags_mode_collapse(real_halves, cfg):
    # collapsed variance: the synthetic records draw every word from half of each word list, a
    # corner of the reference; they stay realistic (precision holds) but miss the rest
    a, b = real_halves
    syn = make_real(400, seed=5, prefix="s", narrow=0.5)
    cfg.families = ["fidelity"]
    rep = audit(syn, reference=b, config=cfg)
    p, r = rep.get("fidelity.precision"), rep.get("fidelity.recall")
    assert r.status == "warn" and p.status == "ok", (p.notes, r.notes)
    assert r.details["at_baseline_size"] < 0.6 * r.details["baseline"]
    cov = rep.get("fidelity.coverage")
    assert cov.status == "warn" and cov.value < 0.8 * cov.details["null_value"]
    # offenders of recall and coverage are reference records far from every synthetic one
    ref_ids = {x["id"] for x in b}
    for res in (r, cov):
        assert len(res.offenders) == 10
        assert all(o["id"] in ref_ids and o["set"] == "reference" and o["score"] >= 1 for o in res.offenders)


def test_family_ks_ttr_flags_repetitive_records(real_halves, cfg):
    # half the synthetic responses repeat their first half: same length, half the distinct words
    a, b = real_halves
    syn = []
    for i, r in enumerate(a[:400]):
        if i % 2 == 0:
            w = r["response"].split()
            h = w[: (len(w) + 1) // 2]
            r = dict(r, response=" ".join((h + h)[: len(w)]))
        syn.append(r)
    cfg.families = ["fidelity"]
    rep = audit(syn, reference=b, config=cfg)
    ttr = rep.get("fidelity.ks_ttr")
    # the untouched half follows the reference, so the KS distance is at most the planted 0.5
    assert ttr.status == "warn" and 0.25 < ttr.value < 0.5 + 0.07
    assert ttr.ci[0] <= ttr.value <= ttr.ci[1] and ttr.ci[0] > 0.1  # the interval excludes no difference
    assert ttr.details["synthetic_mean"] < ttr.details["reference_mean"]
    assert all(int(o["id"][1:]) % 2 == 0 for o in ttr.offenders)  # the repeated ones
    assert rep.get("fidelity.ks_length").status == "ok"


def test_weighted_auc_is_roc_auc_on_the_resample():
    """The bootstrap's weighted AUC equals sklearn's AUC on the resampled records, ties included."""
    from sklearn.metrics import roc_auc_score

    from tether.audit.fidelity import weighted_auc

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300) + 0.3 * y, 1)  # coarse scores: many ties
    for _ in range(20):
        i = rng.integers(0, 300, 300)
        assert weighted_auc(y, p, np.bincount(i, minlength=300)) == pytest.approx(roc_auc_score(y[i], p[i]), abs=1e-12)
    assert weighted_auc(y, p, np.ones(300)) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


# ------------------------------------------------------------------ paired records: grouped folds

ALPACA = Path(__file__).resolve().parents[1] / "data" / "alpaca_eval"


def _alpaca(name):
    """AlpacaEval answers of one model to the same 160 instructions (tests/data/alpaca_eval)."""
    return [json.loads(line) for line in (ALPACA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def _paired_cfg(**kw):
    return AuditConfig(families=["fidelity"], embedder=EmbedderConfig(backend="hashing", dim=256), bootstrap=100,
                       **kw)


@pytest.mark.parametrize("model", ["qwen_1_8b", "claude_verbose"])
def test_paired_audit_uses_grouped_folds_and_sees_the_models_differ(model):
    # two models' answers to the same instructions: every record has its pair on the other side.
    # Plain folds split the pairs and the TF-IDF test read about 0.4 (anti-learning); grouped
    # folds keep each pair in one fold, and the classifier sees the models' styles differ
    rep = audit(_alpaca(model), reference=_alpaca("gpt4o"), config=_paired_cfg())
    for name in ("c2st_tfidf_auc", "c2st_embedding_auc"):
        res = rep.get(f"fidelity.{name}")
        cv = res.details["cv"]
        assert cv["folds"] == "grouped" and cv["grouping"] == "prompt", cv
        assert cv["groups_on_both_sides"] == 160 and cv["records_in_shared_groups"] == 320
        assert res.value > 0.7 and res.ci[0] > 0.5, (name, res.value, res.ci)
        assert not any("broken" in n for n in res.notes)


def test_plain_folds_on_paired_data_anti_learn_and_the_audit_says_the_test_is_broken():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from tether.audit.fidelity import auc_ci, cv_groups

    syn, ref = _alpaca("qwen_1_8b"), _alpaca("gpt4o")
    a, b = Corpus("synthetic", syn), Corpus("reference", ref)
    x = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(a.texts + b.texts)
    auc, p, y = c2st_auc(x[:160], x[160:])  # plain stratified folds split every pair
    lo, hi = auc_ci(y, p)
    assert auc < 0.45 and hi < 0.5, (auc, lo, hi)
    groups, info = cv_groups(a, b)
    grouped, _, _ = c2st_auc(x[:160], x[160:], groups=groups)
    assert info["folds"] == "grouped" and grouped > 0.75
    # the instruction under a field the audit does not know as a prompt: the pairing is not
    # found, the folds are plain, and an AUC wholly below 0.5 is a broken test, not a pass
    rename = [[{"task": r["instruction"], "output": r["output"]} for r in rs] for rs in (syn, ref)]
    rep = audit(rename[0], reference=rename[1], config=_paired_cfg(text_fields=["task", "output"]))
    res = rep.get("fidelity.c2st_tfidf_auc")
    assert res.details["cv"]["folds"] == "stratified"
    assert res.ci[1] < 0.5 and res.status == "warn" and any("broken" in n for n in res.notes), res.notes
    # naming the shared field groups the folds again
    rep = audit(rename[0], reference=rename[1], config=_paired_cfg(text_fields=["task", "output"], group_field="task"))
    res = rep.get("fidelity.c2st_tfidf_auc")
    assert res.details["cv"]["grouping"] == "field task" and res.value > 0.75


def test_grouped_folds_keep_groups_together_and_stay_stratified():
    from tether.audit.fidelity import grouped_folds

    y = np.r_[np.ones(1000), np.zeros(1200)]
    groups = np.arange(2200)
    groups[1000:1600] = np.arange(600)  # 600 pairs across the classes
    groups[1800:1900] = 1800  # one group of 100 negatives
    folds = grouped_folds(y, groups, 5, seed=1)
    for g in (0, 599, 1800):
        assert len(set(folds[groups == g])) == 1
    # each fold holds a fifth of each class: within one record, or one big group for class 0
    pos, neg = np.bincount(folds[y == 1], minlength=5), np.bincount(folds[y == 0], minlength=5)
    assert pos.max() - pos.min() <= 1 and neg.max() - neg.min() <= 100, (pos, neg)


def test_broken_test_rule_rereads_the_auc_with_other_folds():
    """A cross-validated AUC below 0.5 on one fold assignment can be the folds' luck (0.39 on
    a real-vs-real AlpacaEval split, 0.44 with two other assignments): the rule warns only when
    the mean over three assignments is still significantly below 0.5."""
    from tether.audit.base import MetricResult
    from tether.audit.fidelity_c2st import C2ST_EMB, _judge

    def result():  # noqa: ANN202
        return MetricResult.of(C2ST_EMB, 0.37, n=320, ci=(0.31, 0.43))

    grouping = {"folds": "stratified", "grouping": "none"}
    lucky = _judge(result(), 0.03, grouping, lambda seed: 0.47)
    assert lucky.status == "ok" and lucky.details["repeated_cv_aucs"] == [0.37, 0.47, 0.47]
    broken = _judge(result(), 0.03, grouping, lambda seed: 0.36)
    assert broken.status == "warn" and "broken" in broken.notes[-1]
    assert _judge(result(), 0.03, grouping).status == "warn"  # no re-check given: one assignment decides
