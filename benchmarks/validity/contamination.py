"""Planted contamination defects on real data (see common.py for the interface).

A share of the synthetic records is replaced by items of the benchmark (a disjoint real part
of the same set):
- ``verbatim_items``: the benchmark item's fields copied as they are;
- ``paraphrased_items``: every field of the item paraphrased;
- ``paraphrased_questions``: the item's first field (instruction / question) paraphrased, with
  the synthetic record's own answer: a generator that answered a benchmark question itself.

The paraphrases cannot come from an LLM here: they are made by rule from the real items
(:func:`paraphrase`), each field by two to four of: synonym substitution from a small list
(:data:`SYNONYMS`), sentence or clause reordering, question-to-imperative rewording (and the
reverse), dropping and adding filler words, and embedding the text in a longer one (a lead-in
and a closing line). They are easier than an LLM's rewrites (most words stay), which is why
the reorderings and the embedding matter: they move the n-grams and the embeddings.

    .venv/bin/python benchmarks/validity/contamination.py [--seeds 8]   # false alarms and defects
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SETS, load  # noqa: E402

SYNONYMS = {
    "write": "compose", "explain": "describe", "give": "provide", "list": "enumerate", "make": "create",
    "use": "employ", "help": "assist", "important": "significant", "big": "large", "show": "demonstrate",
    "find": "locate", "best": "finest", "different": "various", "example": "instance", "examples": "instances",
    "simple": "basic", "many": "numerous", "also": "additionally", "about": "regarding", "need": "require",
    "start": "begin", "get": "obtain", "buy": "purchase", "good": "decent", "create": "generate",
    "idea": "notion", "ideas": "notions", "easy": "straightforward", "quickly": "rapidly",
    "people": "individuals", "way": "manner", "ways": "methods", "think": "believe", "want": "wish",
    "try": "attempt", "keep": "maintain", "change": "alter", "choose": "select", "whole": "entire",
    "often": "frequently", "usually": "typically", "however": "nevertheless", "because": "since",
    "small": "little", "main": "primary", "describe": "outline", "provide": "supply", "story": "tale",
    "job": "occupation", "said": "stated", "asked": "inquired", "told": "informed", "happy": "glad",
    "angry": "upset", "smart": "clever", "fast": "quick", "begin": "commence", "end": "finish",
    "house": "home", "car": "vehicle", "kids": "children", "answer": "reply", "question": "query",
    "problem": "issue", "method": "approach", "function": "routine", "returns": "gives back",
    "given": "provided", "following": "next", "number": "figure", "numbers": "figures", "value": "amount",
}
LEADS = ["Hi! ", "Quick question: ", "I have a request. ", "Hello, ", "Here is something I need help with. "]
TAILS = [" Thanks!", " Please be detailed.", " Thank you in advance.", " Any help is appreciated."]
FILLER = re.compile(r"\b(please|just|really|very|actually|basically|simply|quite)\s+", re.IGNORECASE)
CONTEXT_BEFORE = ["I came across the following while preparing some material and would like your take on it.\n",
                  "A colleague sent me this and I want to make sure I get it right.\n",
                  "For a study group I am running, we are looking at this:\n"]
CONTEXT_AFTER = ["\nKeep the reply focused on what is asked.", "\nI will share the result with the group.",
                 "\nLet me know if anything is unclear."]


def _case(src: str, dst: str) -> str:
    return dst[:1].upper() + dst[1:] if src[:1].isupper() else dst


def synonyms(text: str, rng: np.random.Generator, p: float = 0.8) -> str:
    def sub(m: re.Match[str]) -> str:
        w = m.group(0)
        rep = SYNONYMS.get(w.lower())
        return _case(w, rep) if rep and rng.random() < p else w

    return re.sub(r"[A-Za-z]+", sub, text)


def reorder(text: str, rng: np.random.Generator) -> str:
    """Move the last sentence first; one sentence: swap the clauses around its first comma."""
    sents = re.split(r"(?<=[.!?])\s+", text.strip())
    if len(sents) >= 2:
        k = int(rng.integers(1, len(sents)))
        return " ".join(sents[k:] + sents[:k])
    m = re.match(r"^([^,]{8,}),\s*([^,]{8,}?)([.!?]?)$", text.strip())
    if m:
        a, b, end = m.groups()
        return f"{b[:1].upper()}{b[1:]}, {a[:1].lower()}{a[1:]}{end or '.'}"
    return text


_QUESTION_RULES = [
    (r"^(?:can|could|would|will) you (?:please )?(.+?)\?$", lambda m: f"Please {m.group(1)}."),
    (r"^what (?:is|are) some (.+?)\?$", lambda m: f"List some {m.group(1)}."),
    (r"^what (?:is|are) (.+?)\?$", lambda m: f"Describe {m.group(1)}."),
    (r"^how (?:do|can|should) (?:i|you|we) (.+?)\?$", lambda m: f"Explain how to {m.group(1)}."),
    (r"^why (.+?)\?$", lambda m: f"Explain why {m.group(1)}."),
    (r"^(write|give|tell|explain|describe|list|create|make|generate|find) (.+?)[.!]?$",
     lambda m: f"Could you {m.group(1).lower()} {m.group(2)}?"),
]


def reword(text: str, rng: np.random.Generator) -> str:
    """A question as an imperative ("What is X?" -> "Describe X."), an imperative as a
    question; anything else gets a question frame."""
    t = text.strip()
    for pat, fn in _QUESTION_RULES:
        m = re.match(pat, t, flags=re.IGNORECASE | re.DOTALL)
        if m:
            return fn(m)
    return f"I would like to know the following: {t}" if t.endswith("?") else t


def fillers(text: str, rng: np.random.Generator) -> str:
    t = FILLER.sub("", text)
    if rng.random() < 0.5:
        t = LEADS[int(rng.integers(len(LEADS)))] + t
    if rng.random() < 0.5:
        t = t + TAILS[int(rng.integers(len(TAILS)))]
    return t


def embed(text: str, rng: np.random.Generator) -> str:
    return CONTEXT_BEFORE[int(rng.integers(len(CONTEXT_BEFORE)))] + text + CONTEXT_AFTER[
        int(rng.integers(len(CONTEXT_AFTER)))]


RULES = {"synonyms": synonyms, "reorder": reorder, "reword": reword, "fillers": fillers, "embed": embed}


def paraphrase(text: str, rng: np.random.Generator) -> str:
    """``text`` rewritten by synonyms, then one to three of the other rules in a random order."""
    others = [r for r in RULES if r != "synonyms"]
    text = synonyms(text, rng)
    for name in rng.choice(others, size=int(rng.integers(1, 4)), replace=False):
        text = RULES[str(name)](text, rng)
    return text


TEXT_FIELDS = ("instruction", "input", "output", "text")


def _bench(parts: dict[str, Any]) -> list[dict[str, Any]]:
    return next(iter(parts["benchmarks"].values()))


def _plant(parts: dict[str, Any], size: float, rng: np.random.Generator, make) -> dict[str, Any]:  # noqa: ANN001
    syn = [dict(r) for r in parts["synthetic"]]
    bench = _bench(parts)
    k = min(int(round(size * len(syn))), len(bench))
    slots = rng.choice(len(syn), size=k, replace=False)
    items = rng.choice(len(bench), size=k, replace=False)
    for i, j in zip(slots, items, strict=True):
        syn[i] = {**make(bench[j], syn[i], rng), "id": f"planted-{bench[j]['id']}"}
    return {**parts, "synthetic": syn}


def verbatim_items(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    return _plant(parts, size, rng, lambda item, own, g: {f: item[f] for f in TEXT_FIELDS if f in item})


def paraphrased_items(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    return _plant(parts, size, rng, lambda item, own, g: {f: paraphrase(item[f], g) if item[f] else item[f]
                                                          for f in TEXT_FIELDS if f in item})


def paraphrased_questions(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    def make(item: dict[str, Any], own: dict[str, Any], g: np.random.Generator) -> dict[str, Any]:
        fields = [f for f in TEXT_FIELDS if f in item]
        first = fields[0]
        out = {f: own.get(f, "") for f in fields}
        out[first] = paraphrase(item[first], g)
        if "input" in item:
            out["input"] = item["input"]
        return out

    return _plant(parts, size, rng, make)


#: sets whose items have a question side and an answer side
PAIRED_SETS = [s for s in SETS if s != "winobias"]

DEFECTS = [
    {"name": "verbatim_items", "family": "contamination", "metric": "contamination.ngram_overlap",
     "sizes": [0.01, 0.02, 0.05, 0.1], "target": 0.1, "sets": list(SETS), "make": verbatim_items},
    {"name": "paraphrased_items", "family": "contamination", "metric": "contamination.contaminated_share",
     "sizes": [0.02, 0.05, 0.1], "target": 0.1, "sets": list(SETS), "make": paraphrased_items},
    {"name": "paraphrased_questions", "family": "contamination", "metric": "contamination.contaminated_share",
     "sizes": [0.02, 0.05, 0.1], "target": 0.1, "sets": PAIRED_SETS, "make": paraphrased_questions},
]


def main() -> None:
    import argparse
    import json

    from common import run_audit, split

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--only", nargs="*", help="defect names (default: all)")
    ap.add_argument("--sets", nargs="*", help="real sets (default: each defect's)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/tether-validity-contamination.jsonl"))
    args = ap.parse_args()
    with args.out.open("a") as out:
        for d in DEFECTS:
            if args.only and d["name"] not in args.only:
                continue
            for s in d["sets"]:
                if args.sets and s not in args.sets:
                    continue
                recs = load(s)
                for size in d["sizes"]:
                    for seed in range(args.seeds):
                        parts = d["make"](split(recs, seed), size, np.random.default_rng(seed))
                        rep = run_audit(parts, families=["contamination"], seed=seed)
                        res = rep.get("contamination.contaminated_share")
                        planted = {r["id"] for r in parts["synthetic"] if str(r["id"]).startswith("planted-")}
                        flagged = set(res.details.get("flagged_ids", []))
                        row = {"defect": d["name"], "set": s, "size": size, "seed": seed,
                               "warned": [r.name for r in rep.results if r.status == "warn"],
                               "found": rep.get(d["metric"]).status == "warn", "planted": len(planted),
                               "missed": len(planted - flagged), "false": len(flagged - planted),
                               "value": res.value}
                        out.write(json.dumps(row) + "\n")
                        out.flush()
                        print(row, flush=True)


if __name__ == "__main__":
    main()
