"""The run directory: its layout, per-step stores of committed batches, and the run lock.

```
runs/NAME/
  config.yaml  manifest.json  cache.sqlite  dataset/  audit/  card.md
  steps/NN-STEP/
    _fingerprint             the step fingerprint its batches were made under
    _batches/NNNNN.json      one marker a committed batch (its counts)
    part-NNNNN.parquet       kept records of batch NNNNN
    rejected/part-NNNNN.parquet
    quarantine/part-NNNNN.parquet
    _SUCCESS.json            the step finished: counts, seconds, stats, LLM usage
    _usage/attempt-NNN.json  LLM usage of each attempt at the step (kept across resumes)
  _outputs.json              fingerprints of the export, audit and card last written
```
A batch counts only once its marker exists; the marker is written (atomically) after its
parts, so a kill at any moment leaves either a whole batch or none.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tether.errors import ConfigError, InputError
from tether.io._private import atomic_write_text
from tether.io.writers import write_parquet
from tether.pipeline.step import Outcome
from tether.records import QUARANTINE_COLUMNS, REJECT_COLUMNS, Record, concat_tables, to_table

KEPT, REJECTED, QUARANTINE = "kept", "rejected", "quarantine"


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
NAME_RULE = "letters, digits, '_', '-' and '.', starting with a letter or digit, at most 100 characters"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a folder of the run directory (None when it can): step and
    pipeline names become folder names, so one that could reach outside the run directory
    (``../x``, ``a/b``, an absolute path) is refused."""
    if _NAME.fullmatch(name):
        return None
    return f"{name!r} cannot name a folder in the run directory: use {NAME_RULE}"


def _part(i: int) -> str:
    return f"part-{i:05d}.parquet"


def rejected_rows(outcome: Outcome, step: str) -> list[Record]:
    rows = []
    for rec, v in outcome.rejected:
        r = dict(rec)
        r["reject_step"] = step
        r["reject_reason"] = v.reason or "rejected"
        r["reject_score"] = None if v.score is None else float(v.score)
        detail = v.details.get("error") if v.details else None
        r["reject_detail"] = None if detail is None else str(detail)
        rows.append(r)
    return rows


def quarantined_rows(outcome: Outcome, step: str) -> list[Record]:
    from tether.pipeline.step import _error_text

    rows = []
    for rec, exc, raw in outcome.quarantined:
        r = dict(rec)
        r["error_step"] = step
        r["error_type"] = exc if isinstance(exc, str) else type(exc).__name__
        r["error_message"] = _error_text(exc)
        r["error_raw"] = None if raw is None else str(raw)
        rows.append(r)
    return rows


class StepStore:
    """Committed batches of one step, in ``steps/NN-STEP/``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # ---- state
    def fingerprint(self) -> str | None:
        f = self.path / "_fingerprint"
        return f.read_text(encoding="utf-8").strip() if f.exists() else None

    def success(self) -> dict[str, Any] | None:
        f = self.path / "_SUCCESS.json"
        return json.loads(f.read_text(encoding="utf-8")) if f.exists() else None

    def is_done(self, fingerprint: str) -> bool:
        return self.fingerprint() == fingerprint and self.success() is not None

    def prepare(self, fingerprint: str) -> bool:
        """Make the folder ready for ``fingerprint``; returns True when earlier batches of the
        same fingerprint are kept (a resume)."""
        if self.path.exists() and self.fingerprint() != fingerprint:
            shutil.rmtree(self.path)
        resumed = self.path.exists() and any(self.committed())
        (self.path / "_batches").mkdir(parents=True, exist_ok=True)
        (self.path / "_SUCCESS.json").unlink(missing_ok=True)
        atomic_write_text(self.path / "_fingerprint", fingerprint)
        return resumed

    def committed(self) -> list[int]:
        d = self.path / "_batches"
        if not d.exists():
            return []
        return sorted(int(p.stem) for p in d.glob("*.json"))

    def has(self, i: int) -> bool:
        return (self.path / "_batches" / f"{i:05d}.json").exists()

    def batch_counts(self, i: int) -> dict[str, int]:
        return json.loads((self.path / "_batches" / f"{i:05d}.json").read_text(encoding="utf-8"))

    # ---- writing
    def commit(self, i: int, outcome: Outcome, step: str, n_in: int) -> dict[str, int]:
        """Write batch ``i`` (kept, rejected, quarantined), then its marker."""
        for kind, rows in (
            (KEPT, outcome.kept),
            (REJECTED, rejected_rows(outcome, step)),
            (QUARANTINE, quarantined_rows(outcome, step)),
        ):
            target = self._file(kind, i)
            if rows:
                write_parquet(to_table(rows), target)
            else:
                target.unlink(missing_ok=True)
        counts = {
            "in": n_in,
            "out": len(outcome.kept),
            "rejected": len(outcome.rejected),
            "quarantined": len(outcome.quarantined),
        }
        atomic_write_text(self.path / "_batches" / f"{i:05d}.json", json.dumps(counts))
        return counts

    def finish(self, info: dict[str, Any]) -> None:
        atomic_write_text(self.path / "_SUCCESS.json", json.dumps(info, indent=2, sort_keys=True))

    # ---- reading
    def _file(self, kind: str, i: int) -> Path:
        if kind == KEPT:
            return self.path / _part(i)
        return self.path / kind / _part(i)

    def counts(self) -> dict[str, int]:
        total = {"in": 0, "out": 0, "rejected": 0, "quarantined": 0}
        for i in self.committed():
            for k, v in self.batch_counts(i).items():
                total[k] = total.get(k, 0) + v
        return total

    def iter_tables(self, kind: str = KEPT) -> Iterator[pa.Table]:
        for i in self.committed():
            f = self._file(kind, i)
            if f.exists():
                yield pq.read_table(f)

    def iter_records(self, kind: str = KEPT) -> Iterator[Record]:
        for t in self.iter_tables(kind):
            yield from t.to_pylist()

    def table(self, kind: str = KEPT) -> pa.Table:
        return concat_tables(list(self.iter_tables(kind)))


class RunDir:
    """Paths of a run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def cache(self) -> Path:
        return self.root / "cache.sqlite"

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    @property
    def audit(self) -> Path:
        return self.root / "audit"

    @property
    def steps(self) -> Path:
        return self.root / "steps"

    def step_dir(self, index: int, name: str) -> Path:
        problem = name_problem(name)
        if problem is not None:
            raise ConfigError(f"step name {problem}", hint="rename the step with name: on it")
        return self.steps / f"{index:02d}-{name}"

    def store(self, index: int, name: str) -> StepStore:
        return StepStore(self.step_dir(index, name))

    def step_stores(self) -> list[tuple[str, StepStore]]:
        """Every step folder present, in order, with the step instance name."""
        if not self.steps.exists():
            return []
        out = []
        for d in sorted(p for p in self.steps.iterdir() if p.is_dir()):
            name = d.name.split("-", 1)[1] if "-" in d.name else d.name
            out.append((name, StepStore(d)))
        return out

    @property
    def outputs_state(self) -> Path:
        """``_outputs.json``: fingerprints of the export, the audit and the card last written."""
        return self.root / "_outputs.json"

    def read_outputs(self) -> dict[str, Any]:
        """The outputs state (empty when absent or unreadable: everything is redone)."""
        try:
            data = json.loads(self.outputs_state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def update_outputs(self, **entries: Any) -> None:
        """Set (or, with ``None``, drop) entries of the outputs state, atomically."""
        data = self.read_outputs()
        for k, v in entries.items():
            if v is None:
                data.pop(k, None)
            else:
                data[k] = v
        atomic_write_text(self.outputs_state, json.dumps(data, indent=2, sort_keys=True, default=str))

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest.exists():
            raise InputError(f"{self.root}: not a tether run directory (no manifest.json)", hint="give the --run-dir of a run")
        return json.loads(self.manifest.read_text(encoding="utf-8"))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the run directory for the length of a run."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(
                    f"{self.root} is in use by another tether run", hint="wait for it, or use another --run-dir"
                ) from None
            yield
        finally:
            os.close(fd)


__all__ = ["KEPT", "NAME_RULE", "QUARANTINE", "QUARANTINE_COLUMNS", "REJECTED", "REJECT_COLUMNS", "RunDir", "StepStore", "name_problem"]
