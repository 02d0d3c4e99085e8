"""Reproduce a run from its config and LLM cache, and check that the outputs are identical.

The run's ``config.yaml`` is run again into a fresh folder, with the run's ``cache.sqlite``
copied over and every LLM switched to the ``replay`` backend over the original cache, so no
model is called: an answer missing from the cache is an error, not a new call. Then the
digests of every step's kept and rejected records and of the final dataset are compared
(digests ignore the volatile lineage fields ``run_id`` and ``created_at``).

Example:
    >>> res = rerun("runs/quickstart")  # doctest: +SKIP
    >>> res.identical  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.core.rundir import KEPT, REJECTED, RunDir
from tether.errors import ConfigError
from tether.lineage._private import open_run, read_config
from tether.records import table_digest

log = logging.getLogger(__name__)


@dataclass
class RerunResult:
    """The digests of the original and the rerun, step by step."""

    original: Path
    rerun: Path
    steps: list[dict[str, Any]] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return bool(self.dataset.get("same")) and all(s["same"] for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"original": str(self.original), "rerun": str(self.rerun), "identical": self.identical,
                "dataset": self.dataset, "steps": self.steps}


def step_digests(run: RunDir) -> dict[str, dict[str, str]]:
    """``step folder -> {kept, rejected}`` digests of a run's committed records."""
    out = {}
    for _name, store in run.step_stores():
        out[store.path.name] = {"kept": table_digest(store.table(KEPT)), "rejected": table_digest(store.table(REJECTED))}
    return out


def _copy_cache(src: Path, dst: Path) -> None:
    """Copy a SQLite cache consistently (the backup API includes a WAL not yet checkpointed)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    s = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    d = sqlite3.connect(str(dst))
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def replay_config(raw: dict[str, Any], cache: Path | None) -> dict[str, Any]:
    """``raw`` with every LLM entry answering only from ``cache`` (the replay backend)."""
    llms = raw.get("llm") or {}
    if not llms:
        return raw
    if cache is None or not cache.exists():
        raise ConfigError("the run calls LLMs but has no cache.sqlite to replay from",
                          hint="rerun needs the run's LLM cache; or run the pipeline again with `tether run`")
    out = dict(raw)
    out["llm"] = {name: {"backend": "replay", "model": (cfg or {}).get("model"), "replay_file": str(cache)}
                  if (cfg or {}).get("backend") != "replay" else cfg for name, cfg in llms.items()}
    return out


def rerun(run_dir: str | Path, out: str | Path | None = None, *, base_dir: str | Path | None = None,
          force: bool = False) -> RerunResult:
    """Run ``run_dir``'s config again into ``out`` (default ``RUN_DIR-rerun``) from its cache
    and compare digests.

    Args:
        base_dir: where the config's relative paths resolve (default: as recorded in the
            manifest, else the run directory's parent).
        force: replace ``out`` when it exists.

    Raises:
        ConfigError: ``out`` exists (without ``force``), or the config no longer loads.
    """
    from tether.pipeline import Pipeline
    from tether.pipeline.config import config_from_dict

    run = open_run(run_dir)
    manifest = run.read_manifest()
    target = Path(out) if out is not None else run.root.with_name(run.root.name + "-rerun")
    if target.resolve() == run.root.resolve():
        raise ConfigError("the rerun folder must differ from the run directory")
    if target.exists() and any(target.iterdir()):
        if not force:
            raise ConfigError(f"{target} already exists", hint="remove it, give --out DIR, or pass --force")
        shutil.rmtree(target)
    base = Path(base_dir) if base_dir is not None else Path(manifest.get("base_dir") or run.root.parent)
    raw = read_config(run)
    if not raw:
        raise ConfigError(f"{run.root}: no config.yaml to rerun")
    new_cache = RunDir(target).cache
    if run.cache.exists():
        _copy_cache(run.cache, new_cache)
    raw = replay_config(raw, new_cache if new_cache.exists() else None)
    config = config_from_dict(raw)
    log.info("rerunning %s into %s (base folder %s)", run.root, target, base)
    result = Pipeline(config, base).run(target)
    res = RerunResult(original=run.root, rerun=target)
    a, b = step_digests(run), step_digests(RunDir(target))
    for name in sorted(set(a) | set(b)):
        da, db = a.get(name), b.get(name)
        res.steps.append({"step": name, "original": da, "rerun": db, "same": da == db})
    orig = (manifest.get("dataset") or {}).get("digest")
    res.dataset = {"original": orig, "rerun": result.dataset_digest, "same": orig == result.dataset_digest,
                   "rows": result.dataset_rows}
    return res


__all__ = ["RerunResult", "replay_config", "rerun", "step_digests"]
