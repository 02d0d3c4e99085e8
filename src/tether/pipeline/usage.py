"""LLM usage of steps across attempts, kept with the steps so reruns and resumes keep it.

Each attempt at a step (a first run, or a resume after a kill) writes its usage, per LLM
client, to ``steps/NN-STEP/_usage/attempt-NNN.json``: after every committed batch, every
``FLUSH_SECONDS`` while the step runs, and when it ends. A finished step's ``_SUCCESS.json``
holds the sum over its attempts, so a skipped step reports the calls that made its records,
and a resumed one adds the calls of the attempts before the kill.

Example:
    >>> add_usage([{"default": {"model": "m", "calls": 2}}, {"default": {"model": "m", "calls": 3}}])
    {'default': {'model': 'm', 'calls': 5}}
    >>> flat_usage({"a": {"model": "m", "calls": 2}, "b": {"model": "n", "calls": 1}})
    {'calls': 3}
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.io._private import atomic_write_text

if TYPE_CHECKING:
    from tether.core.resources import RunResources
    from tether.core.rundir import StepStore

log = logging.getLogger(__name__)

#: how often a running step's usage is written (a kill loses at most this much of it).
FLUSH_SECONDS = 0.1

#: the entry of a step's usage that lists its attempt files that could not be read: the
#: totals leave those attempts out and are marked ``incomplete``.
UNREADABLE = "_unreadable"

ByClient = dict[str, dict[str, Any]]


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def add_usage(parts: list[ByClient]) -> ByClient:
    """Sum usage per client name; numbers add up, other fields (model, backend) are kept."""
    out: ByClient = {}
    for part in parts:
        for name, u in (part or {}).items():
            acc = out.setdefault(name, {})
            if name == UNREADABLE:
                acc["files"] = [*acc.get("files", []), *(f for f in u.get("files", []) if f not in acc.get("files", []))]
                continue
            for k, v in u.items():
                if _is_num(v):
                    acc[k] = acc.get(k, 0) + v
                elif k not in acc:
                    acc[k] = v
    return out


def flat_usage(by_client: ByClient) -> dict[str, Any] | None:
    """The numbers of every client added together (the manifest's per-step ``llm_usage``),
    with ``incomplete: true`` when an attempt's usage could not be read."""
    total: dict[str, Any] = {}
    for name, u in by_client.items():
        if name == UNREADABLE:
            continue
        for k, v in u.items():
            if _is_num(v):
                total[k] = total.get(k, 0) + v
    if by_client.get(UNREADABLE):
        total["incomplete"] = True
    return total or None


def read_attempts(store: StepStore) -> list[ByClient]:
    """Usage of every recorded attempt at a step, oldest first."""
    d = store.path / "_usage"
    if not d.exists():
        return []
    out: list[ByClient] = []
    for f in sorted(d.glob("attempt-*.json")):
        shown = f"{store.path.name}/_usage/{f.name}"
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"not a JSON object: a {type(data).__name__}")
        except (OSError, ValueError) as exc:
            log.warning("LLM usage file %s cannot be read (%s): the token and cost totals leave that attempt out "
                        "and are marked incomplete", shown, exc)
            out.append({UNREADABLE: {"files": [shown]}})
            continue
        out.append(data)
    return out


class AttemptUsage:
    """The usage record of one attempt at a step, written as the step runs."""

    def __init__(self, store: StepStore, resources: RunResources | None, step: str) -> None:
        self.resources = resources
        self.step = step
        d = store.path / "_usage"
        n = len(list(d.glob("attempt-*.json"))) + 1 if d.exists() else 1
        self.path: Path = d / f"attempt-{n:03d}.json"
        self._last: ByClient = {}

    def current(self) -> ByClient:
        return self.resources.step_usage_by_client(self.step) if self.resources is not None else {}

    def flush(self) -> None:
        """Write this attempt's usage when it changed since the last write."""
        now = self.current()
        if now and now != self._last:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(now, sort_keys=True))
            self._last = now

    async def flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self.flush()


COUNTERS = ("prompt_tokens", "completion_tokens", "calls", "cached_calls", "failed_calls", "retries", "cost_usd")


def manifest_llm(per_step: dict[str, ByClient], live: dict[str, Any], prior: dict[str, Any]) -> dict[str, Any]:
    """The manifest's ``llm`` section: per client, its counters summed over every step's
    recorded usage (all attempts, skipped steps included), with this process's report
    (rate limiting, run-directory totals) or, when the client was not opened, the last one."""
    out: dict[str, Any] = {}
    names = list(live) + [n for u in per_step.values() for n in u if n not in live]
    unreadable = sorted({f for u in per_step.values() for f in (u.get(UNREADABLE) or {}).get("files", [])})
    for name in dict.fromkeys(names):
        if name == UNREADABLE:
            continue
        entry = dict(live.get(name) or prior.get(name) or {})
        entry.pop("incomplete", None)
        entry.pop("unreadable_usage", None)
        steps = {s: u[name] for s, u in per_step.items() if name in u}
        if steps:
            total = add_usage([{name: u} for u in steps.values()])[name]
            for k in ("model", "backend"):
                if total.get(k) is not None:
                    entry.setdefault(k, total[k])
            entry.update({k: total.get(k, 0) for k in COUNTERS})
            entry["total_tokens"] = int(total.get("prompt_tokens", 0)) + int(total.get("completion_tokens", 0))
            entry["by_step"] = {s: {k: v for k, v in u.items() if _is_num(v)} for s, u in steps.items()}
        if unreadable:  # which client an unreadable attempt was for is unknown: every total may be short
            entry["incomplete"] = True
            entry["unreadable_usage"] = unreadable
        out[name] = entry
    return out


__all__ = ["UNREADABLE", "AttemptUsage", "add_usage", "flat_usage", "manifest_llm", "read_attempts"]
