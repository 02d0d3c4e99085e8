"""Heuristic filters: reference values of the Gopher definitions and planted defects."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from curate_helpers import run_step

from tether.curate import (
    LanguageFilter,
    LengthFilter,
    RatioFilter,
    RefusalFilter,
    RepetitionFilter,
    TruncationFilter,
    detect_language,
    repetition_stats,
    text_ratios,
    truncation_reason,
)
from tether.curate.heuristics import SHORT_TEXT_WORDS, dup_ngram_char_frac, top_ngram_char_frac
from tether.records import new_record

DATA = Path(__file__).resolve().parents[1] / "data"
ANSWER_FILES = ["alpaca_eval/gpt4o.jsonl", "alpaca_eval/claude_verbose.jsonl", "alpaca_eval/qwen_1_8b.jsonl",
                "code_alpaca/code_alpaca_300.jsonl"]


def _answers(name: str) -> list[str]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line)["output"] for line in f]

WORDS = ["river", "stone", "garden", "window", "market", "pencil", "summer", "orange", "castle", "doctor", "engine", "planet", "silver", "forest", "bridge", "candle", "rocket", "island", "letter", "mirror", "thunder", "valley", "spider", "coffee", "blanket", "harbor", "violin", "wizard", "ladder", "cactus"]


def _clean(rnd: random.Random, n: int = 60) -> str:
    lines = []
    for _ in range(6):
        lines.append(" ".join(rnd.choice(WORDS) for _ in range(n // 6)).capitalize() + ".")
    return "\n".join(lines)


def _prf(pred: list[bool], truth: list[bool]) -> tuple[float, float]:
    tp = sum(p and t for p, t in zip(pred, truth, strict=True))
    precision = tp / max(1, sum(pred))
    recall = tp / max(1, sum(truth))
    return precision, recall


def _rejected_flags(out, recs) -> list[bool]:
    rej = {r["id"] for r, _ in out.rejected}
    return [r["id"] in rej for r in recs]


# ------------------------------------------------------------- reference values
def test_gopher_line_fractions_closed_form():
    s = repetition_stats("a\na\nb")
    assert s["dup_line_frac"] == pytest.approx(1 / 3)
    assert s["dup_line_char_frac"] == pytest.approx(1 / 5)
    s = repetition_stats("p one\n\np one\n\np two\n\np one")
    assert s["dup_para_frac"] == pytest.approx(2 / 4)
    assert s["dup_para_char_frac"] == pytest.approx(10 / 26)


def test_gopher_ngram_fractions_closed_form():
    words = ["x", "y", "x", "y", "x", "y"]
    assert top_ngram_char_frac(words, 2, 11) == pytest.approx(9 / 11)  # "x y" x3, 3 chars each
    words = ["a", "b", "c", "d", "e", "a", "b", "c", "d", "e"]
    assert dup_ngram_char_frac(words, 5, 19) == pytest.approx(5 / 19)  # "abcde" repeats once
    assert dup_ngram_char_frac(["a", "b", "c", "d", "e", "f"], 5, 11) == 0.0


def test_top_ngram_counts_only_repeated_ngrams():
    # every 2-gram distinct: the most frequent one covers no repetition
    for text in ("The capital of Australia is Canberra.", "starter smells pleasantly sour, like yogurt or green apples.",
                 "Hello world"):
        assert top_ngram_char_frac(text.split(), 2, len(text)) == 0.0
        assert repetition_stats(text)["top_2"] == 0.0
    # overlapping occurrences count once: never more than the whole text
    zeros = "arr = [" + ", ".join(["0"] * 24) + "]"
    assert 0.5 < top_ngram_char_frac(zeros.split(), 2, len(zeros)) <= 1.0
    assert top_ngram_char_frac(["the", "the", "the", "the"], 2, 15) == pytest.approx(14 / 15)  # 2 of 3 overlapping
    # the short-text rule's counts
    assert top_ngram_char_frac(["a", "b", "c", "a", "b"], 2, 9, min_count=3) == 0.0
    assert dup_ngram_char_frac(["a", "b", "c", "d", "e", "a", "b", "c", "d", "e"], 5, 19, min_hits=2) == 0.0


def test_repetition_filter_passes_real_short_answers():
    # real model answers (AlpacaEval: GPT-4o, Claude 2.1, Qwen1.5-1.8B; Code Alpaca) under
    # Gopher's 50-word document minimum: 285 of 290 pass (98.3%; 92 before); the 5 rejected are code or
    # lists that do repeat ("arr = [0, 0, 0, ...]", "5 --> 3 --> 1 / 5 --> 3 --> 4 ...")
    short = [t for name in ANSWER_FILES for t in _answers(name) if len(t.split()) < SHORT_TEXT_WORDS]
    assert len(short) >= 280
    out = run_step(RepetitionFilter(), [new_record({"text": t}) for t in short])
    rate = len(out.kept) / len(short)
    print(f"real short answers kept: {len(out.kept)}/{len(short)} = {rate:.3f}")
    assert rate >= 0.97
    assert all(r["repetition_filter__short_text"] for r in out.kept)
    # one-line answers of up to 25 words: 78 of 78 pass (before counting only repeated
    # n-grams, 60 of them were rejected, most on a top 2-gram seen once)
    sentences = [t for t in short if len(t.split()) <= 25 and "\n" not in t]
    out = run_step(RepetitionFilter(), [new_record({"text": t}) for t in sentences])
    assert len(sentences) >= 20 and len(out.rejected) <= 1, [r["text"] for r, _ in out.rejected]


@pytest.mark.parametrize(("name", "min_rate"), [("alpaca_eval/gpt4o.jsonl", 0.95),
                                                ("alpaca_eval/claude_verbose.jsonl", 0.97),
                                                ("code_alpaca/code_alpaca_300.jsonl", 0.97)])
def test_repetition_filter_pass_rate_on_real_answers(name, min_rate):
    # all answers, any length (measured: GPT-4o 156/160, Claude 160/160, Code Alpaca 295/300;
    # GPT-4o's 4 are Markdown with repeated fences and speaker labels). Qwen1.5-1.8B, which
    # loops, keeps 119/160: its rejected answers repeat whole passages.
    texts = _answers(name)
    out = run_step(RepetitionFilter(), [new_record({"text": t}) for t in texts])
    rate = len(out.kept) / len(texts)
    print(f"{name}: kept {len(out.kept)}/{len(texts)} = {rate:.3f}")
    assert rate >= min_rate


def test_repetition_filter_rejects_degenerate_short_and_long():
    rnd = random.Random(7)
    real = [t for t in _answers("alpaca_eval/gpt4o.jsonl") + _answers("code_alpaca/code_alpaca_300.jsonl")
            if 3 <= len(t.split()) <= 30 and "\n" not in t]
    sentences = rnd.sample(real, 20)
    paragraphs = [p for t in _answers("alpaca_eval/claude_verbose.jsonl") for p in t.split("\n\n") if len(p.split()) >= 15]
    degenerate = [" ".join(["the"] * k) for k in (4, 6, 12, 40, 120)]
    degenerate += [" ".join([s] * 5) for s in sentences]  # a sentence said five times, one line
    degenerate += ["\n".join([s] * 5) for s in sentences[:5]]  # ... on five lines
    degenerate += ["\n\n".join([p] * 3) for p in rnd.sample(paragraphs, 10)]  # a looping paragraph
    loops = []
    for s in sentences[:10]:  # an answer that starts well, then loops on a phrase
        phrase = " ".join(rnd.choice(WORDS) for _ in range(6))
        loops.append(s + " " + " ".join([phrase] * 5))
    degenerate += loops
    out = run_step(RepetitionFilter(), [new_record({"text": t}) for t in degenerate])
    missed = [r["text"][:80] for r in out.kept]
    print(f"degenerate rejected: {len(out.rejected)}/{len(degenerate)}")
    assert not missed
    assert any(r["repetition_filter__short_text"] for r, _ in out.rejected)
    assert any(not r["repetition_filter__short_text"] for r, _ in out.rejected)


def test_repetition_filter_short_rule_can_be_switched_off():
    text = "A variable is a named location in memory that stores values that can be changed."
    text += " A constant is a named location in memory that stores a fixed value."
    assert run_step(RepetitionFilter(), [new_record({"text": text})]).kept
    assert run_step(RepetitionFilter(short_text_words=0), [new_record({"text": text})]).rejected


def test_text_ratios_closed_form():
    r = text_ratios("### hello ... world 123")
    assert r["symbol_word_ratio"] == pytest.approx(4 / 5)  # three "#" and one "..." over 5 words
    assert r["alpha_word_frac"] == pytest.approx(2 / 5)
    assert r["non_alpha_char_frac"] == pytest.approx(9 / 19)


# ------------------------------------------------------------- planted defects
def test_repetition_filter_planted():
    rnd = random.Random(1)
    recs, truth = [], []
    for _ in range(60):
        recs.append(new_record({"text": _clean(rnd)}))
        truth.append(False)
    for i in range(20):
        base = _clean(rnd).split("\n")
        if i % 2:
            text = "\n".join(base[:2] + [base[0]] * 4)  # repeated lines
        else:
            loop = " ".join(rnd.choice(WORDS) for _ in range(8))
            text = base[0] + " " + " ".join([loop] * 6)  # a looping generation
        recs.append(new_record({"text": text}))
        truth.append(True)
    out = run_step(RepetitionFilter(), recs)
    precision, recall = _prf(_rejected_flags(out, recs), truth)
    print(f"repetition: precision={precision:.2f} recall={recall:.2f}")
    assert precision == 1.0 and recall == 1.0
    reasons = {v.reason for _, v in out.rejected}
    assert reasons <= {"repeated_lines", "repeated_paragraphs", "top_ngram_repetition", "repeated_ngrams"}
    assert all(r["repetition_filter__score"] is not None for r in out.kept)


def test_ratio_filter_planted():
    rnd = random.Random(2)
    clean = [_clean(rnd) for _ in range(40)]
    bad = ["### ### ### title ... more ... and more ...", "12 34 56 78 90 11 22 33 44 55 data",
           "$$$ %%% &&& *** ((( ))) +++ ok", "#hashtag #tags #everywhere #here #now word"]
    recs = [new_record({"text": t}) for t in clean + bad]
    out = run_step(RatioFilter(), recs)
    precision, recall = _prf(_rejected_flags(out, recs), [False] * 40 + [True] * 4)
    print(f"ratios: precision={precision:.2f} recall={recall:.2f}")
    assert precision == 1.0 and recall == 1.0


def test_length_filter():
    # planted: texts of 0..30 words (and one of 30 long words); known answer: outside
    # [3 words, 20 words] or over 150 characters is rejected, with the reason for its side
    rnd = random.Random(4)
    texts = [" ".join(rnd.choice(["one", "two", "three", "four"]) for _ in range(n)) for n in range(31)]
    texts.append(" ".join("x" * 12 for _ in range(12)))  # 12 words but 155 characters
    truth = {t: ("too_short" if len(t.split()) < 3 else "too_long" if len(t.split()) > 20 or len(t) > 150 else None)
             for t in texts}
    recs = [new_record({"text": t}) for t in texts]
    out = run_step(LengthFilter(min_words=3, max_words=20, max_chars=150), recs)
    precision, recall = _prf(_rejected_flags(out, recs), [truth[t] is not None for t in texts])
    print(f"length: precision={precision:.2f} recall={recall:.2f}")
    assert precision == 1.0 and recall == 1.0
    assert {r["text"]: v.reason for r, v in out.rejected} == {t: w for t, w in truth.items() if w}
    kept_words = sorted(len(r["text"].split()) for r in out.kept)
    assert kept_words[0] == 3 and kept_words[-1] == 20  # the bounds themselves are kept
    assert all(r["length_filter__chars"] == len(r["text"]) for r in out.kept)


def test_language_planted():
    en = ["The weather today is sunny and warm, perfect for a walk in the park.",
          "Please send me the report by Friday so that I can review it.",
          "Machine learning models need large amounts of training data.",
          "She opened the window to let some fresh air into the room."]
    other = ["Le chat dort sur le canapé pendant que nous mangeons le dîner.",
             "Der Zug nach Berlin hat heute leider eine Stunde Verspätung.",
             "El perro corre por el parque todas las mañanas con su dueño.",
             "Questo ristorante serve la migliore pizza della città."]
    assert [detect_language(t)[0] for t in other] == ["fr", "de", "es", "it"]
    recs = [new_record({"text": t}) for t in en + other]
    out = run_step(LanguageFilter(languages=["en"]), recs)
    precision, recall = _prf(_rejected_flags(out, recs), [False] * 4 + [True] * 4)
    print(f"language: precision={precision:.2f} recall={recall:.2f}")
    assert precision == 1.0 and recall == 1.0
    assert {v.reason for _, v in out.rejected} == {"wrong_language"}
    assert {r["language_filter__language"] for r, _ in out.rejected} == {"fr", "de", "es", "it"}


def test_language_filter_unknown_code():
    from curate_helpers import make_ctx

    from tether.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown language code"):
        LanguageFilter(languages=["english"]).setup(make_ctx())


def test_refusal_filter_planted():
    good = ["Paris is the capital of France.", "To boil an egg, simmer it for nine minutes.",
            "Sorry to hear that; here are three ways to fix the leak.", "I can help: first, open the valve."]
    refusals = ["I'm sorry, but I can't help with that request.", "I cannot assist with creating malware.",
                "I’m sorry, but I cannot share that information."]
    boiler = ["As an AI language model, I think the answer is 42.", "My knowledge cutoff prevents me from knowing."]
    recs = [new_record({"instruction": "q", "response": t}) for t in good + refusals + boiler]
    out = run_step(RefusalFilter(), recs)
    precision, recall = _prf(_rejected_flags(out, recs), [False] * 4 + [True] * 5)
    print(f"refusal: precision={precision:.2f} recall={recall:.2f}")
    assert precision == 1.0 and recall == 1.0
    reasons = {r["response"]: v.reason for r, v in out.rejected}
    assert [reasons[t] for t in refusals] == ["refusal"] * 3
    assert [reasons[t] for t in boiler] == ["boilerplate"] * 2


def test_truncation_planted():
    assert truncation_reason("Here is the code:\n```python\nprint(1)") == "unclosed_code_block"
    assert truncation_reason("It depends on the") == "dangling_word"
    assert truncation_reason("All done.", "length") == "finish_reason_length"
    good = ["The answer is 42.", "Done!", "Use `ls -la`", "Steps:\n1. Open it.\n2. Close it.", "```\ncode\n```"]
    cut = ["The main reason is that the", "First, preheat the oven and", "Here:\n```py\nx = 1", "The result was surpris"]
    recs = [new_record({"response": t, "fr": None}) for t in good + cut]
    recs.append(new_record({"response": "Looks complete.", "fr": "length"}))
    out = run_step(TruncationFilter(finish_reason_field="fr"), recs)
    precision, recall = _prf(_rejected_flags(out, recs), [False] * 5 + [True] * 5)
    print(f"truncation: precision={precision:.2f} recall={recall:.2f}")
    assert precision == 1.0 and recall == 1.0
