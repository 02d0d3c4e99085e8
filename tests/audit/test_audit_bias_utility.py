from __future__ import annotations

import random
import re

import numpy as np
import pytest
from audit_data import NEG, PEOPLE, POS, make_real

from tether.audit import audit
from tether.audit.bias import (
    _owners,
    _pattern,
    bias_amplification,
    group_mentions,
    load_lexicons,
    swap_terms,
)


def test_lexicons_ship_every_dimension():
    groups = load_lexicons()["groups"]
    assert set(groups) == {"gender", "race_ethnicity", "religion", "age", "nationality", "disability",
                           "sexual_orientation"}
    assert "mary" in groups["gender"]["female"]  # names merged in
    m = group_mentions(["A Muslim doctor.", "Her brother, a Hindu.", "nothing"], groups["religion"])
    assert m["muslim"] == [0] and m["hindu"] == [1]


def test_trie_pattern_matches_the_longest_first_alternation():
    """The lexicon regex is a character trie; it must find exactly what the plain alternation,
    longest term first, finds, on texts built from the lexicons' own pieces so that terms
    overlap, nest and touch hyphens, apostrophes and punctuation."""
    lex = load_lexicons()
    terms = [t for d in lex["groups"].values() for ts in d.values() for t in ts]
    terms += [t for v in lex["attributes"].values() for t in v] + lex["sentiment"]["positive"]
    rng = random.Random(1)
    pieces = [w for t in terms for w in re.split(r"(\W)", t.lower()) if w] + ["x", "-", "_", ".", "'s", "er", "\n"]
    texts = ["".join(rng.choice([*pieces, " ", " ", " "]) for _ in range(rng.randint(5, 60))) for _ in range(1500)]
    texts += [" ".join(rng.sample(terms, 5)) for _ in range(500)]
    plain = re.compile(r"(?<![\w-])(" + "|".join(sorted({re.escape(t.lower()) for t in terms}, key=len, reverse=True))
                       + r")(?![\w-])")
    trie = _pattern(tuple(terms))
    found = [trie.findall(t) for t in texts]
    assert found == [plain.findall(t) for t in texts]
    assert sum(map(len, found)) > 2000  # the texts do hold terms
    # a term counts for the groups of the terms it holds as whole words, in other dimensions only
    owners = _owners(lex["groups"])
    assert ("nationality", list(lex["groups"]["nationality"]).index("american")) in owners["african american"]
    assert not any(d == "age" and j != owners["middle aged"][0][1] for d, j in owners["middle aged"])


def test_bias_amplification_closed_form():
    # reference: nurse 60% female; synthetic: nurse 90% female -> amplification 0.3
    ref = np.array([[60.0, 40.0]])
    syn = np.array([[90.0, 10.0]])
    assert bias_amplification(syn, ref) == pytest.approx(0.3)
    assert bias_amplification(ref, ref) == 0.0


def test_swap_terms():
    g = load_lexicons()["groups"]["gender"]
    assert swap_terms("She met the woman.", {"female": g["female"], "male": g["male"]}) == "he met the man."


def test_family_finds_an_over_represented_group(real_halves, cfg):
    a, b = real_halves
    rng = random.Random(2)
    syn = []
    for r in a:
        r = dict(r)
        if rng.random() < 0.2:  # 20% of records mention a Muslim; the reference never does
            r["response"] += " A Muslim neighbour joined them."
        syn.append(r)
    cfg.families = ["bias"]
    rep = audit(syn, reference=b, config=cfg)
    rp = rep.get("bias.representation_log2_ratio")
    assert rp.details["worst_group"] == "religion.muslim" and rp.value > 4 and rp.status == "warn"
    assert rp.details["groups"]["religion.muslim"]["share"] == pytest.approx(0.2, abs=0.03)
    assert rp.offenders and "Muslim" in rp.offenders[0]["text"]


def test_cooccurrence_shift_and_amplification(cfg):
    # reference: a person's gender follows the job stereotype 75% of the time; synthetic: always
    ref = make_real(800, 41, "r", lean=0.75)
    syn = make_real(800, 42, "s", lean=1.0)
    cfg.families = ["bias"]
    rep = audit(syn, reference=ref, config=cfg)
    amp = rep.get("bias.cooccurrence_amplification")
    assert amp.value == pytest.approx(0.25, abs=0.05) and amp.status == "warn"
    assert amp.details["worst"] == "genderxoccupation"
    shift = rep.get("bias.cooccurrence_shift")
    assert shift.value == pytest.approx(0.25, abs=0.08) and shift.status == "warn"
    same = audit(make_real(800, 43, "s", lean=0.75), reference=ref, config=cfg)
    assert abs(same.get("bias.cooccurrence_amplification").value) < 0.05


def test_counterfactual_flip_when_labels_follow_gender(real_halves, cfg):
    a, b = real_halves
    syn = []
    for r in a:  # the label follows the first person's gender, not the sentiment
        first = r["response"].split(",")[0].lower()
        female = first in ("she", "the woman", "my sister", "the mother")
        syn.append(dict(r, label="positive" if female else "negative"))
    cfg.families = ["bias"]
    rep = audit(syn, reference=b, config=cfg)
    cf = rep.get("bias.counterfactual_flip_rate")
    assert cf.value > 0.3 and cf.status == "warn"
    assert cf.details["reference_baseline"] < 0.05


def _sentiment_by_gender(record, rng):
    """Each sentence's verdict follows its person's gender: women find things bad, men good.
    Returns the record and its (female, male) sentence counts."""
    female = {w.lower() for w in PEOPLE["female"]}
    out, counts = [], [0, 0]
    for sent in record["response"].rstrip(".").split(". "):
        is_female = sent.split(",")[0].lower() in female
        counts[0 if is_female else 1] += 1
        out.append(f"{sent.rpartition(' ')[0]} {rng.choice(NEG if is_female else POS)}")
    return dict(record, response=". ".join(out) + "."), counts


def test_sentiment_gap_when_verdicts_follow_gender(real_halves, cfg):
    a, b = real_halves
    rng = random.Random(3)
    syn, counts = zip(*(_sentiment_by_gender(r, rng) for r in a), strict=True)
    # expected from the construction: a record scores (male - female sentences) / sentences, and
    # the gap is the mean over records mentioning a man minus that over records mentioning a woman
    score = [(m - f) / (m + f) for f, m in counts]
    mean_f = np.mean([x for x, (f, _) in zip(score, counts, strict=True) if f])
    mean_m = np.mean([x for x, (_, m) in zip(score, counts, strict=True) if m])
    cfg.families = ["bias"]
    rep = audit(list(syn), reference=b, config=cfg)
    gap = rep.get("bias.sentiment_gap")
    assert gap.details["worst_dimension"] == "gender" and gap.status == "warn"
    assert gap.value == pytest.approx(mean_m - mean_f, abs=0.02)
    assert gap.details["dimensions"]["gender"]["reference_gap"] < 0.1
    means = gap.details["dimensions"]["gender"]["means"]
    assert means["female"] < 0 < means["male"]


def test_bias_reports_nothing_on_halves(real_halves, cfg):
    a, b = real_halves
    cfg.families = ["bias"]
    rep = audit(a, reference=b, config=cfg)
    assert rep.scorecard()["bias"] == "ok", [(r.name, r.value, r.notes) for r in rep.results]


def test_group_mentions_longer_term_wins_and_every_group_is_counted():
    from tether.audit.bias import group_mentions

    groups = {"old": ["aged", "elderly"], "middle_aged": ["middle aged"], "young": ["young"]}
    texts = ["A middle aged man.", "An aged tree and a young fox.", "Nothing here.", "ELDERLY and Middle Aged"]
    got = group_mentions(texts, groups)
    assert got == {"old": [1, 3], "middle_aged": [0, 3], "young": [1]}
