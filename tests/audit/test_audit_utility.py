from __future__ import annotations

import random

import numpy as np
import pytest
from audit_data import TOPICS, make_real

from tether.audit import audit
from tether.audit.utility import chance_macro_f1, weighted_macro_f1


def test_utility_tstr_against_trtr(real_halves, cfg):
    a, b = real_halves
    cfg.families = ["utility"]
    rep = audit(a, reference=b, config=cfg)
    assert rep.scorecard()["utility"] == "ok"
    assert rep.get("utility.tstr_ratio").value == pytest.approx(1.0, abs=0.05)
    assert len(rep.get("utility.tstr_f1").details["per_seed"]) == 3
    trtr = rep.get("utility.trtr_f1")
    # the label is the sentiment of a word list, so a model trained on real data learns it
    assert trtr.value > 0.9 and trtr.ci[0] <= trtr.value <= trtr.ci[1] and len(trtr.details["per_seed"]) == 3
    rng = random.Random(0)
    shuffled = [dict(r, label=rng.choice(["positive", "negative"])) for r in a]  # labels destroyed
    rep = audit(shuffled, reference=b, config=cfg)
    ratio = rep.get("utility.tstr_ratio")
    assert ratio.value < 0.75 and ratio.status == "warn" and ratio.ci[1] < 1.0
    # TRTR trains on real records (as many as TSTR's) with the same seeds: the synthetic labels
    # cannot move it, only TSTR falls
    again = rep.get("utility.trtr_f1")
    assert again.value == trtr.value and again.details["per_seed"] == trtr.details["per_seed"]
    assert rep.get("utility.tstr_f1").value < 0.75 * again.value


def _topic_labelled(n: int, seed: int, prefix: str) -> list[dict]:
    """Records labelled by the topic their question names (half the topics are "a"): a label
    a model learns better from more records, as it must see each topic word with its label."""
    first = set(TOPICS[::2])
    out = []
    for r in make_real(n, seed, prefix):
        topic = next(w for w in r["instruction"].rstrip("?").split() if w in TOPICS)
        out.append(dict(r, response="", label="a" if topic in first else "b"))
    return out


def test_tstr_and_trtr_train_on_equal_sizes(cfg):
    """A synthetic set four times the real training pool, from the same distribution: trained
    on all of it, TSTR beat TRTR (ratio about 1.5 on this task, which improves with size);
    trained on as many records as TRTR, the ratio is 1 within its interval."""
    syn, ref = _topic_labelled(1200, 3, "s"), _topic_labelled(300, 4, "r")
    cfg.families = ["utility"]
    rep = audit(syn, reference=ref, config=cfg)
    ratio = rep.get("utility.tstr_ratio")
    assert ratio.details["train_size"] == 300 - int(0.3 * 300)
    assert ratio.details["learnable"] and ratio.status == "ok"
    assert ratio.value == pytest.approx(1.0, abs=0.15)
    assert ratio.ci[0] < 1.0 < ratio.ci[1]


def test_ratio_is_not_judged_near_chance(cfg):
    """Labels nobody can learn (random on both sides): both F1s are noise near 0.5 and their
    ratio swings widely, but it must never warn."""
    cfg.families = ["utility"]
    rng = random.Random(11)
    ratios = []
    for seed in range(8):
        syn, ref = make_real(120, 50 + seed, "s"), make_real(120, 80 + seed, "r")
        syn = [dict(r, label=rng.choice("xy")) for r in syn]
        ref = [dict(r, label=rng.choice("xy")) for r in ref]
        rep = audit(syn, reference=ref, config=cfg)
        ratio = rep.get("utility.tstr_ratio")
        assert ratio.status == "ok" and not ratio.details["learnable"], ratio.notes
        assert ratio.details["chance_f1"] <= 0.55
        ratios.append(ratio.value)
    assert min(ratios) < 0.8 or max(ratios) > 1.25  # the ratio itself is noise here


def test_weighted_macro_f1_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    truth, pred = rng.integers(0, 4, 60), rng.integers(0, 3, 60)
    w = rng.multinomial(60, np.full(60, 1 / 60), size=5).astype(float)
    for row in w:
        idx = np.repeat(np.arange(60), row.astype(int))
        got = weighted_macro_f1(truth, pred, row[None, :], 4)[0]
        assert got == pytest.approx(f1_score(truth[idx], pred[idx], average="macro"))
    # chance: a majority-class model on balanced binary labels, and a fair coin
    y = np.array([0, 1] * 50)
    assert chance_macro_f1(y, np.zeros(100, int), 2) == pytest.approx(1 / 3)
    assert chance_macro_f1(y, np.array([0, 0, 1, 1] * 25), 2) == pytest.approx(0.5)
