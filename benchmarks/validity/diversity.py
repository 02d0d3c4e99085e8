"""Planted diversity, quality and utility defects: a fixed opening phrase on a share of the
records, near copies of other synthetic records, a collapsed set (a share of the records
replaced by copies of a few), answers cut mid-sentence, refusals in place of answers, and
labels shuffled on a share of the records; and a negative control, two real records joined
into one, which must not look less diverse.

Each defect edits ``size`` of the synthetic records in place, so the synthetic set keeps its
size.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

OPENING = "As a knowledgeable assistant, here is a careful answer to your request:"
REFUSAL = "I'm sorry, but I can't help with that request."
ANSWER_KEYS = ("output", "response", "text")
PROMPT_KEYS = ("instruction", "text")


def _pick(rng: np.random.Generator, n: int, size: float) -> np.ndarray:
    return np.sort(rng.choice(n, max(1, round(size * n)), replace=False))


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> str:
    return next(k for k in keys if isinstance(record.get(k), str) and record[k].strip())


def templated_openings(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """The same opening phrase before the prompt (the start of the record's text)."""
    syn = [dict(r) for r in parts["synthetic"]]
    for i in _pick(rng, len(syn), size):
        k = _first(syn[i], PROMPT_KEYS)
        syn[i][k] = f"{OPENING} {syn[i][k]}"
    return {**parts, "synthetic": syn}


def _one_word_changed(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    if words:
        words[int(rng.integers(len(words)))] = "indeed"
    return " ".join(words)


def near_duplicates(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """Records replaced by a copy of another synthetic record with one word of its answer
    changed (well above the MinHash threshold on texts of 40+ words)."""
    syn = [dict(r) for r in parts["synthetic"]]
    hit = _pick(rng, len(syn), size)
    keep = np.setdiff1d(np.arange(len(syn)), hit)
    for i in hit:
        src = dict(parts["synthetic"][int(rng.choice(keep))])
        k = _first(src, ANSWER_KEYS)
        syn[i] = dict(src, id=f"near-{i}", **{k: _one_word_changed(src[k], rng)})
    return {**parts, "synthetic": syn}


def collapsed(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """Records replaced by copies drawn with replacement from five of the synthetic records."""
    syn = [dict(r) for r in parts["synthetic"]]
    hit = _pick(rng, len(syn), size)
    few = rng.choice(np.setdiff1d(np.arange(len(syn)), hit), 5, replace=False)
    for i in hit:
        syn[i] = dict(parts["synthetic"][int(rng.choice(few))], id=f"copy-{i}")
    return {**parts, "synthetic": syn}


def truncated(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """Answers cut mid-sentence: at a random word between 30% and 80% of their length, the
    last word's trailing punctuation dropped."""
    syn = [dict(r) for r in parts["synthetic"]]
    for i in _pick(rng, len(syn), size):
        k = _first(syn[i], ANSWER_KEYS)
        words = syn[i][k].split()
        if len(words) < 8:
            words = words + ["and", "then", "the", "next", "part", "of", "the", "answer"]
        cut = int(rng.integers(max(5, int(0.3 * len(words))), max(6, int(0.8 * len(words)))))
        syn[i][k] = re.sub(r"[^\w]+$", "", " ".join(words[:cut])) or "and then the"
    return {**parts, "synthetic": syn}


def refusals(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    syn = [dict(r) for r in parts["synthetic"]]
    for i in _pick(rng, len(syn), size):
        syn[i][_first(syn[i], ANSWER_KEYS)] = REFUSAL
    return {**parts, "synthetic": syn}


def _join(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a, id=f"{a['id']}+{b['id']}")
    for k, v in a.items():
        if isinstance(v, str) and k not in ("id", "label") and isinstance(b.get(k), str):
            out[k] = "\n".join(x for x in (v, b[k]) if x)
    return out


def longer_records(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """Negative control: ``size`` of the synthetic records each joined with a private record
    (same set, never in the reference): twice as long, as diverse as real data."""
    syn = [dict(r) for r in parts["synthetic"]]
    private = parts["private"]
    for i, j in zip(_pick(rng, len(syn), size), rng.permutation(len(private)), strict=False):
        syn[i] = _join(syn[i], private[int(j)])
    return {**parts, "synthetic": syn}


def _code_label(record: dict[str, Any]) -> str:
    return "python" if re.search(r"\bdef |\bimport |print\(", record.get("output", "")) else "other"


def shuffled_labels(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """Code Alpaca labelled by whether the answer is Python (a label TF-IDF learns), then
    ``size`` of the synthetic records given a random label."""
    out = {k: ([dict(r, label=_code_label(r)) for r in v] if isinstance(v, list) else v) for k, v in parts.items()}
    for i in _pick(rng, len(out["synthetic"]), size):
        out["synthetic"][i]["label"] = str(rng.choice(["python", "other"]))
    return out


ALPACA = ["alpaca_gpt4o", "alpaca_qwen72b"]
DEFECTS = [
    {"name": "templated_openings", "family": "diversity", "metric": "diversity.prefix_rate",
     "sizes": [0.05, 0.1, 0.2, 0.3, 0.5], "target": 0.2, "sets": ["alpaca_gpt4o", "code_alpaca"],
     "make": templated_openings},
    {"name": "near_duplicates", "family": "diversity", "metric": "diversity.near_duplicate_rate",
     "sizes": [0.02, 0.05, 0.1, 0.2], "target": 0.05, "sets": ["alpaca_gpt4o", "code_alpaca"],
     "make": near_duplicates},
    {"name": "collapsed_diversity", "family": "diversity", "metric": None,
     "sizes": [0.1, 0.25, 0.5], "target": 0.5, "sets": ["alpaca_gpt4o", "code_alpaca", "winobias"],
     "make": collapsed},
    {"name": "longer_records", "family": "diversity", "metric": None, "negative_control": True,
     "sizes": [1.0], "target": None, "sets": ["alpaca_gpt4o", "code_alpaca", "winobias"],
     "make": longer_records},
    {"name": "truncated_responses", "family": "quality", "metric": "quality.truncated_rate",
     "sizes": [0.05, 0.1, 0.2, 0.3], "target": 0.2, "sets": ALPACA, "make": truncated},
    {"name": "refusals", "family": "quality", "metric": "quality.refusal_rate",
     "sizes": [0.02, 0.05, 0.1], "target": 0.1, "sets": ALPACA, "make": refusals},
    {"name": "shuffled_labels", "family": "utility", "metric": "utility.tstr_ratio",
     "sizes": [0.5, 0.75, 1.0], "target": 1.0, "sets": ["code_alpaca"], "make": shuffled_labels},
]
