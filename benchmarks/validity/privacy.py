"""Planted privacy defects: private records leaked into the synthetic data (exact copies,
near copies, copies with every number changed) and fresh PII (e-mail addresses, phone
numbers, US SSNs, credit-card numbers) written into synthetic records.

Each defect replaces ``size`` of the synthetic records, so the synthetic set keeps its size.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

TEXT_KEYS = ("output", "text", "response", "instruction")
FIRST = ("james", "maria", "wei", "olivia", "ahmed", "sofia", "daniel", "priya", "lucas", "emma", "kenji", "fatima")
LAST = ("smith", "garcia", "chen", "johnson", "patel", "nguyen", "muller", "rossi", "kim", "okafor", "silva")
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "protonmail.com", "acme-corp.com", "uni-koeln.de")


def _pick(rng: np.random.Generator, n: int, size: float) -> np.ndarray:
    return rng.choice(n, max(1, round(size * n)), replace=False)


def _leak(parts: dict[str, Any], size: float, rng: np.random.Generator, edit: Any) -> dict[str, Any]:
    syn = [dict(r) for r in parts["synthetic"]]
    private = parts["private"]
    src = rng.choice(len(private), len(_pick(rng, len(syn), size)), replace=False)
    for i, j in zip(_pick(rng, len(syn), size), src, strict=False):
        copy = {k: (edit(v, rng) if isinstance(v, str) and k in TEXT_KEYS + ("input",) else v)
                for k, v in private[j].items()}
        syn[i] = dict(copy, id=f"leak-{i}")
    return {**parts, "synthetic": syn}


def _new_number(m: re.Match[str], rng: np.random.Generator) -> str:
    old = m.group()
    while True:
        new = "".join(str(d) for d in rng.integers(0, 10, len(old)))
        if len(old) > 1 and new[0] == "0":
            new = str(rng.integers(1, 10)) + new[1:]
        if new != old:
            return new


def digits_changed(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """Private records copied with every run of digits replaced by another number."""
    return _leak(parts, size, rng, lambda v, r: re.sub(r"\d+", lambda m: _new_number(m, r), v))


def exact_copies(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    return _leak(parts, size, rng, lambda v, r: v)


def _near_edit(text: str, rng: np.random.Generator) -> str:
    """One word in twenty dropped (at most one in a short text) and a short tail added."""
    words = text.split()
    if len(words) >= 20:
        drop = set(rng.choice(len(words), len(words) // 20, replace=False).tolist())
        words = [w for k, w in enumerate(words) if k not in drop]
    return " ".join(words) + " " + str(rng.choice(["Thanks!", "Hope this helps.", "Indeed."]))


def near_copies(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """Private records copied with small edits: the answer (or the text) loses one word in
    twenty and gains a short closing phrase."""
    syn = [dict(r) for r in parts["synthetic"]]
    private = parts["private"]
    idx = _pick(rng, len(syn), size)
    src = rng.choice(len(private), len(idx), replace=False)
    for i, j in zip(idx, src, strict=True):
        rec = dict(private[j], id=f"near-{i}")
        key = next(k for k in TEXT_KEYS if rec.get(k))
        rec[key] = _near_edit(rec[key], rng)
        syn[i] = rec
    return {**parts, "synthetic": syn}


def _luhn_card(rng: np.random.Generator) -> str:
    digits = [4] + [int(d) for d in rng.integers(0, 10, 14)]
    total = 0
    for k, d in enumerate(reversed(digits)):
        x = d * 2 if k % 2 == 0 else d
        total += x - 9 if x > 9 else x
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    sep = str(rng.choice([" ", "-", ""]))
    return sep.join(s[k : k + 4] for k in range(0, 16, 4))


def _ssn(rng: np.random.Generator) -> str:
    area = int(rng.choice([a for a in range(1, 900) if a != 666]))
    return f"{area:03d}-{int(rng.integers(1, 100)):02d}-{int(rng.integers(1, 10000)):04d}"


def _phone(rng: np.random.Generator) -> str:
    a, b, c = int(rng.integers(201, 990)), int(rng.integers(200, 1000)), int(rng.integers(0, 10000))
    fmt = int(rng.integers(0, 3))
    return (f"({a}) {b}-{c:04d}", f"+1 {a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}")[fmt]


def pii_sentence(rng: np.random.Generator) -> str:
    """One realistic sentence holding one fresh PII value (e-mail, phone, SSN or card)."""
    first, last = str(rng.choice(FIRST)), str(rng.choice(LAST))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        sep = str(rng.choice([".", "_", ""]))
        email = f"{first}{sep}{last}{int(rng.integers(1, 99)) if rng.random() < 0.5 else ''}@{rng.choice(DOMAINS)}"
        return f"You can reach {first.title()} {last.title()} at {email}."
    if kind == 1:
        return f"For questions, call {first.title()} on {_phone(rng)}."
    if kind == 2:
        return f"{first.title()} {last.title()}'s social security number is {_ssn(rng)}."
    return f"Payment was made with card {_luhn_card(rng)} (exp 0{int(rng.integers(1, 10))}/2{int(rng.integers(6, 10))})."


def fresh_pii(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """A sentence with one fresh PII value appended to ``size`` of the synthetic records."""
    syn = [dict(r) for r in parts["synthetic"]]
    for i in _pick(rng, len(syn), size):
        key = next(k for k in TEXT_KEYS if syn[i].get(k))
        syn[i][key] = syn[i][key].rstrip() + " " + pii_sentence(rng)
    return {**parts, "synthetic": syn}


SETS = ["alpaca_gpt4o", "alpaca_claude_verbose", "alpaca_qwen72b", "alpaca_ppo_human", "code_alpaca", "winobias"]
SIZES = [0.01, 0.02, 0.05, 0.1]

DEFECTS = [
    {"name": "leaked_copies_digits_changed", "family": "privacy", "metric": "privacy.too_close_rate",
     "sizes": SIZES, "target": 0.05, "sets": SETS, "make": digits_changed},
    {"name": "exact_private_copies", "family": "privacy", "metric": "privacy.exact_replay",
     "sizes": SIZES, "target": 0.05, "sets": SETS, "make": exact_copies},
    {"name": "near_private_copies", "family": "privacy", "metric": None,
     "sizes": SIZES, "target": 0.05, "sets": SETS, "make": near_copies},
    {"name": "fresh_pii", "family": "privacy", "metric": "privacy.pii_presence_rate",
     "sizes": SIZES, "target": 0.05, "sets": SETS, "make": fresh_pii},
]
