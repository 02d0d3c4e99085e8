"""Helpers for the generation tests (a unique module name: conftest modules collide)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tether.embed import EmbedderConfig
from tether.llm.config import LLMConfig
from tether.pipeline import Pipeline, RunResult
from tether.pipeline.context import StepContext
from tether.pipeline.resources import RunResources
from tether.pipeline.rundir import KEPT, RunDir
from tether.pipeline.step import Outcome, Step
from tether.records import Record


def run_steps(
    steps: list[Step],
    records: list[Record] | None = None,
    *,
    llms: dict[str, Any] | None = None,
    base_dir: Path | None = None,
    seed: int = 0,
) -> tuple[Outcome, dict[str, dict[str, Any]]]:
    """Run steps in memory with scripted clients and the hashing embedder.

    Returns the outcome (kept of the last step, rejected/quarantined of all) and each step's stats.
    """
    llms = llms or {}
    res = RunResources({name: LLMConfig(model="scripted") for name in llms},
                       EmbedderConfig(backend="hashing", dim=512))
    res._clients.update(llms)
    stats: dict[str, dict[str, Any]] = {}

    async def go() -> Outcome:
        total = Outcome()
        current = list(records or [])
        for step in steps:
            ctx = StepContext(step_name=step.instance_name, seed=seed, resources=res,
                              base_dir=base_dir or Path.cwd(), run_id="test")
            step.setup(ctx)
            out = await step.run_all(current, ctx)
            step.teardown()
            stats[step.instance_name] = ctx.stats
            total.rejected.extend(out.rejected)
            total.quarantined.extend(out.quarantined)
            current = out.kept
        total.kept = current
        return total

    try:
        return asyncio.run(go()), stats
    finally:
        res.close()


def run_pipeline(base: Path, steps: list[dict[str, Any]], llm: dict[str, Any], *, run: str = "run",
                 **options: Any) -> RunResult:
    """Run a pipeline for real (run directory, LLM layer, response cache) from ``base``, with
    ``llm`` as its default model (e.g. ``srv.llm_config()`` of a scripted server)."""
    cfg = {"name": "t", "llm": {"default": llm}, "embedder": {"backend": "hashing"}, "steps": steps, **options}
    return Pipeline.from_dict(cfg, base_dir=base).run(base / run)


def step_records(run_dir: Path, index: int, name: str, kind: str = KEPT) -> list[Record]:
    """The records a step of a finished run kept (or rejected / quarantined)."""
    return list(RunDir(run_dir).store(index, name).iter_records(kind))
