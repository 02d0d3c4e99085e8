from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from tether.audit import audit
from tether.audit.diversity import (
    compression_ratio,
    distinct_n,
    near_duplicates,
    prefix_excess,
    prefix_excess_null,
    prefix_rate,
    repeated_ngrams,
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


def test_distinct_n_hand_counted_corpus():
    # Li et al. (2016) define distinct-n but give no worked table; this corpus is counted by hand.
    # n-grams never cross a record boundary ("sat the" and "ran a" do not count).
    corpus = ["the cat sat", "the cat ran", "a dog sat"]
    # unigrams: 9 in all; distinct: the, cat, sat, ran, a, dog = 6
    assert distinct_n(corpus, 1) == pytest.approx(6 / 9)
    # bigrams: the cat, cat sat, the cat, cat ran, a dog, dog sat = 6; distinct 5
    assert distinct_n(corpus, 2) == pytest.approx(5 / 6)
    # trigrams: 3, all distinct
    assert distinct_n(corpus, 3) == 1.0
    # the only repeated bigram, the records holding it, and each record's share of such bigrams
    rows, share = repeated_ngrams(corpus, ["a", "b", "c"], n=2)
    assert rows == [{"ngram": "the cat", "count": 2, "records": ["a", "b"]}]
    assert share.tolist() == [0.5, 0.5, 0.0]


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
    for name in ("vendi_score", "cluster_entropy", "distinct_2", "distinct_3", "distinct_4",
                 "compression_ratio", "self_repetition"):
        assert rep.get(f"diversity.{name}").status == "warn", name
    # every record is one of 20, each 20 times: every 4-gram recurs, and the effective number of
    # distinct items cannot exceed 20
    assert rep.get("diversity.self_repetition").value == 1.0
    assert rep.get("diversity.vendi_score").value <= 20 + 1e-6
    ce = rep.get("diversity.cluster_entropy")
    crowded = ce.details["largest_clusters"][0]
    # copies share a cluster, so the most crowded one holds whole groups of 20 copies
    assert crowded["share"] > crowded["expected_share"] and crowded["size"] % 20 == 0
    assert len(ce.offenders) == 10 and all(o["cluster"] == crowded["cluster"] for o in ce.offenders)


def test_family_detects_a_repeated_boilerplate_paragraph(real_halves, cfg):
    # every synthetic response ends with the same 32-word paragraph
    a, b = real_halves
    tail = ("I hope this short account gives you a clear picture of the place and the people who "
            "work there every day, and please let me know if you would like more detail")
    assert len(tail.split()) == 32
    syn = [dict(r, response=r["response"] + " " + tail) for r in a[:400]]
    cfg.families = ["diversity"]
    rep = audit(syn, reference=b, config=cfg)
    # compared at the same number of tokens a side (the synthetic records are longer); the
    # generator's few hundred words and their pairs mostly occur either way, so distinct-1 and -2
    # hardly fall (-2 to about 93%, significant but under the 10% needed)
    assert rep.get("diversity.distinct_2").details["matched"]["p_value"] <= 0.01
    for name in ("distinct_3", "distinct_4", "compression_ratio", "self_repetition"):
        assert rep.get(f"diversity.{name}").status == "warn", name
    # the paragraph's 29 4-grams recur in every record, so the share of a record's 4-grams found
    # elsewhere rises above the reference's
    sr = rep.get("diversity.self_repetition")
    assert sr.details["matched"]["difference"] > 0.05 and sr.ci[0] <= sr.value <= sr.ci[1]
    # the paragraph's trigrams occur exactly once in each of the 400 records and head the list
    d3 = rep.get("diversity.distinct_3")
    tail_rows = [row for row in d3.details["top_ngrams"] if row["ngram"] in tail.lower().replace(",", "")]
    assert len(tail_rows) >= 5 and all(row["count"] == 400 for row in tail_rows)
    assert tail_rows[0]["records"] == [r["id"] for r in syn[:5]]
    assert len(d3.offenders) == 10 and all(o["score"] > 0 for o in d3.offenders)
    cr = rep.get("diversity.compression_ratio")
    assert cr.value > 1.25 * cr.details["reference"] and cr.details["chunks"]["ratio"] > 1.1


def test_family_reports_nothing_on_halves(real_halves, cfg):
    a, b = real_halves
    cfg.families = ["diversity"]
    rep = audit(a, reference=b, config=cfg)
    assert rep.scorecard()["diversity"] == "ok", [(r.name, r.notes) for r in rep.results if r.notes]


def test_prefix_excess_is_judged_against_chance():
    """On small corpora the positive parts of chance differences add up: two samples of one
    distribution of openings show an excess well above zero, and the shuffled-label null
    reproduces it, while a planted template stands far above that null."""
    rng = random.Random(3)
    starts = [f"w{i} v{j} u{k}" for i in range(6) for j in range(5) for k in range(4)]  # 120 openings
    a = [f"{rng.choice(starts)} rest of the text" for _ in range(150)]
    b = [f"{rng.choice(starts)} rest of the text" for _ in range(150)]
    ex = prefix_excess(a, b)
    null = prefix_excess_null(a, b, seed=1)
    assert ex > 0.05  # chance alone, not zero
    assert np.quantile(null, 0.05) <= ex <= np.quantile(null, 0.99) + 0.02
    templated = [("as a helpful assistant " + t) if i % 3 == 0 else t for i, t in enumerate(a)]
    ex_t = prefix_excess(templated, b)
    assert ex_t > np.quantile(prefix_excess_null(templated, b, seed=1), 0.95) + 0.2


def test_near_matches_find_a_record_replayed_many_times():
    """A pool record copied (with one word changed) into 150 queries: every copy is matched to
    it, however full its LSH buckets are; unrelated queries match nothing."""
    from tether.audit.diversity import near_matches

    rng = random.Random(5)
    words = [f"w{i}" for i in range(3000)]
    pool = [" ".join(rng.choice(words) for _ in range(60)) for _ in range(200)]
    copies = []
    for _ in range(150):
        w = pool[7].split()
        w[rng.randrange(60)] = "changed"
        copies.append(" ".join(w))
    others = [" ".join(rng.choice(words) for _ in range(60)) for _ in range(100)]
    got = near_matches(copies + others, pool, threshold=0.8)
    assert got[:150] == [7] * 150
    assert got[150:] == [-1] * 100


DATA = Path(__file__).resolve().parents[1] / "data"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def _join(a: dict, b: dict) -> dict:
    out = dict(a, id=f"{a['id']}+{b['id']}")
    for k, v in a.items():
        if isinstance(v, str) and k != "id" and isinstance(b.get(k), str):
            out[k] = "\n".join(x for x in (v, b[k]) if x)
    return out


@pytest.mark.parametrize("name", ["code_alpaca/code_alpaca_300.jsonl", "alpaca_eval/gpt4o.jsonl"])
def test_longer_records_do_not_look_less_diverse(name, cfg):
    """Two real records joined into one: twice the tokens a record and embeddings pulled
    towards the mean, but as diverse as the real data. Compared at equal tokens (n-gram
    measures) and on centred embeddings (Vendi, clusters), nothing warns; compared at equal
    record counts, distinct-1, the Vendi score and cluster entropy all read this as collapse."""
    data = _rows(name)
    cfg.families = ["diversity"]
    for seed in range(2):
        rng = np.random.default_rng(seed)
        d = [data[i] for i in rng.permutation(len(data))]
        m = len(d) // 3
        ref, rest = d[:m], d[m:]
        joined = [_join(rest[i], rest[i + m]) for i in range(m)]
        rep = audit(joined, reference=ref, config=cfg)
        assert rep.scorecard()["diversity"] == "ok", [(r.name, r.notes) for r in rep.results if r.notes]
        d1 = rep.get("diversity.distinct_1").details["matched"]
        assert d1["records"][0] < d1["records"][1]  # fewer, longer synthetic records at the same tokens
        assert d1["ratio"] > 0.9
        assert rep.get("diversity.vendi_score").details["centred"]["ratio"] > 0.9


@pytest.mark.parametrize("name", ["code_alpaca/code_alpaca_300.jsonl", "alpaca_eval/gpt4o.jsonl",
                                  "alpaca_eval/qwen_1_8b.jsonl"])
def test_real_halves_of_small_sets_do_not_warn(name, cfg):
    """Random halves (80 to 150 records) of one real set: chance differences in cluster
    entropy, openings or n-grams must not warn (cluster entropy against clusters fitted on the
    reference read 0.3-0.6 below it on most AlpacaEval halves)."""
    data = _rows(name)
    cfg.families = ["diversity"]
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(data))
        h = len(data) // 2
        rep = audit([data[i] for i in perm[:h]], reference=[data[i] for i in perm[h:]], config=cfg)
        assert rep.scorecard()["diversity"] == "ok", [(r.name, r.notes) for r in rep.results if r.notes]


def test_matched_comparison_helpers():
    from tether.audit.diversity_null import (
        budget_sample,
        chunk_ratios,
        entropy_gap_null,
        significant,
        vendi_from_gram,
    )

    rng = np.random.default_rng(0)
    lengths = np.array([10, 20, 30, 40, 50])
    idx = budget_sample(lengths, 60, rng)
    assert lengths[idx].sum() >= 60 and lengths[idx].sum() - lengths[idx].max() < 60
    # k orthogonal items each repeated: Vendi from the Gram matrix is k
    x = np.repeat(np.eye(8)[:4], 5, axis=0)
    assert vendi_from_gram(x @ x.T) == pytest.approx(4.0)
    # one text repeated compresses far better than varied text, chunk by chunk
    same = chunk_ratios(["the same words again and again"] * 2000, rng)
    varied = chunk_ratios([" ".join(str(v) for v in rng.integers(0, 10**6, 8)) for _ in range(2000)], rng)
    assert len(same) >= 3 and same.min() > 3 * varied.max()
    # exchangeable sides: the entropy gap's null is centred on 0
    null = entropy_gap_null(rng.integers(0, 5, 400), 200, 5, 200, seed=1)
    assert abs(float(np.median(null))) < 0.01
    assert significant(1 / 101, 100) and not significant(2 / 101, 100) and significant(1 / 21, 20)
    assert significant(float("nan"), 0) and not significant(float("nan"), 100)  # no rounds: effect only


def test_one_record_of_repeated_runs_does_not_make_the_corpus_compressible(cfg):
    """A real answer can hold a long run of one pattern (a table rule, a repeated line): its
    chunks compress a hundredfold. The sides are compared by their bytes over their gzip
    bytes, so that record moves the ratio by its share of the bytes, where it dominated the
    mean of chunk ratios."""
    from tether.audit.dataset import record_text
    from tether.audit.diversity_null import chunk_sizes

    data = _rows("alpaca_eval/gpt4o.jsonl")
    perm = np.random.default_rng(2).permutation(len(data))
    syn, ref = [data[i] for i in perm[:80]], [data[i] for i in perm[80:]]
    syn[0] = dict(syn[0], output="| --- " * 2000)  # 12 kB of 160 kB
    cfg.families = ["diversity"]
    cr = audit(syn, reference=ref, config=cfg).get("diversity.compression_ratio")
    assert cr.status == "ok", cr.notes
    assert cr.details["chunks"]["ratio"] < 1.1
    rng = np.random.default_rng(0)
    a, b = (chunk_sizes([record_text(r) for r in side], rng) for side in (syn, ref))
    assert np.mean(a[0] / a[1]) > 1.15 * np.mean(b[0] / b[1])  # a mean of chunk ratios passes 1.1
