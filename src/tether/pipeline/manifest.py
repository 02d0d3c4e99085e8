"""The run manifest: versions, inputs and their digests, per-step counts, timings, usage."""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib import metadata
from typing import Any

from tether.core.rundir import RunDir
from tether.io._private import atomic_write_text

PACKAGES = ("pyarrow", "pydantic", "numpy", "openai", "httpx", "torch", "transformers", "sentence-transformers")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _int(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


class Manifest:
    """The manifest of one run, written atomically after every step."""

    def __init__(self, run: RunDir, data: dict[str, Any], prior: dict[str, Any] | None = None) -> None:
        self.run = run
        self.data = data
        self.prior = prior or {}
        """The manifest of the previous attempt in this run directory (empty for a new run)."""

    @classmethod
    def open(cls, run: RunDir, *, name: str, run_id: str, config_digest: str) -> Manifest:
        from tether._version import __version__

        prior: dict[str, Any] = {}
        if run.manifest.exists():
            try:
                prior = json.loads(run.manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                prior = {}
            if not isinstance(prior, dict):
                prior = {}  # not a manifest: this attempt writes a new one
        data = {
            "name": name,
            "run_id": run_id,
            "tether_version": __version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": package_versions(),
            "config_digest": config_digest,
            "started_at": time.time(),
            "attempts": _int(prior.get("attempts")) + 1,
            "status": "running",
            "inputs": [],
            "steps": [],
            "llm": {},
        }
        return cls(run, data, prior)

    def add_step(self, info: dict[str, Any]) -> None:
        self.data["steps"].append(info)
        self.save()

    def save(self) -> None:
        atomic_write_text(self.run.manifest, json.dumps(self.data, indent=2, sort_keys=True, default=str))
