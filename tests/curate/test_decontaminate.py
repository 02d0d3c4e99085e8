"""Decontamination: planted benchmark items, verbatim and lightly edited, and paraphrases."""

from __future__ import annotations

import json
import random

import pytest
from curate_helpers import make_ctx, run_step

from tether.curate.decontaminate import Decontaminate, ngram_overlap_hits
from tether.records import new_record

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu"]


def _sentence(rnd: random.Random, n: int) -> str:
    return " ".join(rnd.choice(WORDS) + str(rnd.randrange(50)) for _ in range(n))


def _light_edit(text: str, rnd: random.Random) -> str:
    toks = text.split()
    i = rnd.randrange(len(toks))
    toks[i] = toks[i].upper() + ","  # case and punctuation only change
    return "Question: " + " ".join(toks) + "?"


def test_ngram_overlap_reference():
    bench = {"a": "the quick brown fox jumps over the lazy dog by the river bank today"}
    hits = ngram_overlap_hits(["The QUICK brown fox, jumps over the lazy dog by the river bank today!", "unrelated"],
                              bench, n=13)
    assert hits == [{"a": 2}, {}]  # 14 words -> two 13-grams, both present


def test_decontaminate_planted(tmp_path):
    rnd = random.Random(7)
    items = {"mmlu": [_sentence(rnd, 30) for _ in range(30)], "gsm8k": [_sentence(rnd, 25) for _ in range(30)]}
    for name, qs in items.items():
        with (tmp_path / f"{name}.jsonl").open("w") as f:
            for i, q in enumerate(qs):
                f.write(json.dumps({"id": f"{name}-{i}", "question": q}) + "\n")
    clean = [_sentence(rnd, 40) for _ in range(100)]
    planted = []
    for name, qs in items.items():
        planted += [(name, "Solve this: " + qs[i] + " Answer below.") for i in range(5)]  # verbatim inside
        planted += [(name, _light_edit(qs[i], rnd)) for i in range(5, 10)]  # lightly edited
    texts = clean + [t for _, t in planted]
    truth = [False] * len(clean) + [True] * len(planted)
    recs = [new_record({"text": t}) for t in texts]
    step = Decontaminate(benchmarks=[{"name": n, "path": f"{n}.jsonl"} for n in items])
    ctx = make_ctx("decontaminate", base_dir=tmp_path)
    out = run_step(step, recs, ctx)
    rej = {r["id"]: v for r, v in out.rejected}
    pred = [r["id"] in rej for r in recs]
    tp = sum(p and t for p, t in zip(pred, truth, strict=True))
    precision, recall = tp / max(1, sum(pred)), tp / sum(truth)
    print(f"decontaminate 13-gram: precision={precision:.2f} recall={recall:.2f}")
    assert precision == 1.0 and recall == 1.0
    assert ctx.stats["hits"] == {"mmlu": {"ngram": 10, "embedding": 0, "records": 10},
                                 "gsm8k": {"ngram": 10, "embedding": 0, "records": 10}}
    for (name, _), rec in zip(planted, recs[len(clean):], strict=True):
        assert rej[rec["id"]].details["benchmark"] == name
        assert rej[rec["id"]].reason == "contaminated"


@pytest.mark.slow
def test_decontaminate_paraphrase_by_embedding(tmp_path):
    bench = ["What is the boiling point of water at sea level in degrees Celsius?",
             "Which planet in our solar system is known as the Red Planet?"]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"question": q}) + "\n" for q in bench))
    paraphrases = ["At sea level, at what temperature in Celsius does water boil?",
                   "Which planet of the solar system is called the Red Planet?"]
    clean = ["Write a haiku about autumn leaves.", "How do I sort a list in Python?",
             "Summarise the causes of the French Revolution."]
    recs = [new_record({"text": t}) for t in paraphrases + clean]
    step = Decontaminate(benchmarks=[{"name": "b", "path": "b.jsonl"}], embedding=True, embedding_threshold=0.8)
    ctx = make_ctx("decontaminate", base_dir=tmp_path, embedder="minilm")
    out = run_step(step, recs, ctx)
    got = {r["text"] for r, _ in out.rejected}
    print(f"decontaminate paraphrase: found {len(got & set(paraphrases))}/2, false {len(got - set(paraphrases))}")
    assert got == set(paraphrases)
    assert ctx.stats["hits"]["b"] == {"ngram": 0, "embedding": 2, "records": 2}


def _write_bench(tmp_path, items):
    for name, qs in items.items():
        with (tmp_path / f"{name}.jsonl").open("w") as f:
            for i, q in enumerate(qs):
                f.write(json.dumps({"id": f"{name}-{i}", "question": q}) + "\n")


def test_decontaminate_counts_every_benchmark_a_record_matches(tmp_path):
    rnd = random.Random(11)
    items = {"mmlu": [_sentence(rnd, 20) for _ in range(4)], "gsm8k": [_sentence(rnd, 20) for _ in range(4)],
             "arc": [_sentence(rnd, 20) for _ in range(4)]}
    _write_bench(tmp_path, items)
    both = "First: " + items["mmlu"][0] + " Then: " + items["gsm8k"][1]  # overlaps two benchmarks
    only_mmlu = items["mmlu"][2] + " extra words"
    clean = [_sentence(rnd, 30) for _ in range(5)]
    recs = [new_record({"text": t}) for t in [both, only_mmlu, *clean]]
    step = Decontaminate(benchmarks=[{"name": n, "path": f"{n}.jsonl"} for n in items])
    ctx = make_ctx("decontaminate", base_dir=tmp_path)
    out = run_step(step, recs, ctx)
    rej = {r["text"]: (r, v) for r, v in out.rejected}
    assert set(rej) == {both, only_mmlu} and len(out.kept) == len(clean)
    assert ctx.stats["hits"] == {"mmlu": {"ngram": 2, "embedding": 0, "records": 2},
                                 "gsm8k": {"ngram": 1, "embedding": 0, "records": 1},
                                 "arc": {"ngram": 0, "embedding": 0, "records": 0}}
    rec, v = rej[both]
    assert rec["decontaminate__benchmarks"] == ["gsm8k", "mmlu"] and rec["decontaminate__method"] == "ngram"
    assert rej[only_mmlu][0]["decontaminate__benchmarks"] == ["mmlu"]
    assert all(r["decontaminate__benchmarks"] == [] and r["decontaminate__method"] is None for r in out.kept)


def test_decontaminate_ngram_hit_still_counts_embedding_matches(tmp_path):
    # a verbatim copy matches by n-grams and (identical text, cosine 1) by embedding: both are
    # counted; a near copy of another benchmark's item below the n-gram bar counts by embedding only
    rnd = random.Random(12)
    items = {"mmlu": [_sentence(rnd, 20) for _ in range(3)], "gsm8k": [_sentence(rnd, 20) for _ in range(3)]}
    _write_bench(tmp_path, items)
    toks = items["gsm8k"][0].split()
    toks[::6] = ["changed"] * len(toks[::6])  # no 13-gram survives, most words do
    near = " ".join(toks)
    recs = [new_record({"text": t}) for t in [items["mmlu"][1], near, _sentence(rnd, 20)]]
    step = Decontaminate(benchmarks=[{"name": n, "path": f"{n}.jsonl"} for n in items],
                         embedding=True, embedding_threshold=0.6)
    ctx = make_ctx("decontaminate", base_dir=tmp_path)
    out = run_step(step, recs, ctx)
    rej = {r["text"]: r for r, _ in out.rejected}
    assert set(rej) == {items["mmlu"][1], near}
    assert rej[items["mmlu"][1]]["decontaminate__method"] == "ngram"
    assert rej[near]["decontaminate__method"] == "embedding" and rej[near]["decontaminate__benchmark"] == "gsm8k"
    assert ctx.stats["hits"] == {"mmlu": {"ngram": 1, "embedding": 1, "records": 1},
                                 "gsm8k": {"ngram": 0, "embedding": 1, "records": 1}}
