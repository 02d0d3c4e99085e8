"""The run directory: its layout, per-step stores of committed batches, and the run lock.

```
runs/NAME/
  config.yaml  manifest.json  cache.sqlite  dataset/  audit/  card.md
  steps/NN-STEP/
    _fingerprint             the step fingerprint its batches were made under
    _batches/NNNNN.json      one marker a committed batch (its counts, its parts' sha256 and size)
    part-NNNNN.parquet       kept records of batch NNNNN
    rejected/part-NNNNN.parquet
    quarantine/part-NNNNN.parquet
    _SUCCESS.json            the step finished: counts, seconds, stats, LLM usage
    _usage/attempt-NNN.json  LLM usage of each attempt at the step (kept across resumes)
  _outputs.json              fingerprints of the export, audit and card last written
```
A batch counts only once its marker exists; the marker is written (atomically) after its
parts, so a kill at any moment leaves either a whole batch or none.

Committed state is checked before it is trusted: each batch's parts against the digests in
its marker (a marker written before markers held digests: its parts must parse and hold its
counts), the export's files against the digests in ``_outputs.json``. A damaged batch is
dropped, with one log line naming the file, and computed again; a damaged export is written
again. Leftover ``*.tmp`` files (a write cut short) are removed when a run takes the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tether.core.step import Outcome
from tether.errors import ConfigError, InputError
from tether.io._private import atomic_write_text, file_sha256
from tether.io.writers import write_parquet
from tether.records import QUARANTINE_COLUMNS, REJECT_COLUMNS, Record, concat_tables, to_table

log = logging.getLogger(__name__)

KEPT, REJECTED, QUARANTINE = "kept", "rejected", "quarantine"
COUNT_KEYS = ("in", "out", "rejected", "quarantined")
#: The batch count each kind of part holds rows for.
_ROWS_OF = {KEPT: "out", REJECTED: "rejected", QUARANTINE: "quarantined"}


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
    from tether.core.step import _error_text

    rows = []
    for rec, exc, raw in outcome.quarantined:
        r = dict(rec)
        r["error_step"] = step
        r["error_type"] = exc if isinstance(exc, str) else type(exc).__name__
        r["error_message"] = _error_text(exc)
        r["error_raw"] = None if raw is None else str(raw)
        rows.append(r)
    return rows


def file_digest(path: Path) -> dict[str, Any]:
    """The sha256 and size of a file, as markers and ``_outputs.json`` record them."""
    return {"sha256": file_sha256(path), "bytes": path.stat().st_size}


def digest_problem(path: Path, recorded: Any) -> str | None:
    """Why ``path`` does not match its recorded digest (None when it does)."""
    if not path.is_file():
        return "is missing"
    if not isinstance(recorded, dict):
        return "has an unreadable digest"
    size = path.stat().st_size
    if size != recorded.get("bytes"):
        return f"is {size} bytes, not the {recorded.get('bytes')} it was written with"
    if file_sha256(path) != recorded.get("sha256"):
        return "does not match the sha256 it was written with"
    return None


def parquet_problem(path: Path, rows: int | None) -> str | None:
    """Why ``path`` is not a readable Parquet file of ``rows`` rows (None when it is): the
    check of a file written before its digest was recorded."""
    if not path.is_file():
        return "is missing"
    try:
        n = pq.read_table(path).num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        return f"cannot be read ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"
    if rows is not None and n != rows:
        return f"holds {n} rows, not {rows}"
    return None


def _dataset_file_problem(path: Path, rows: int | None) -> str | None:
    """Why an exported file written before digests were kept is not whole (None when it is)."""
    if path.suffix == ".parquet":
        return parquet_problem(path, rows)
    if not path.is_file():
        return "is missing"
    if path.suffix == ".jsonl":
        n = 0
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        json.loads(line)
                        n += 1
        except (OSError, ValueError) as exc:
            return f"cannot be read ({type(exc).__name__} at line {n + 1})"
        if rows is not None and n != rows:
            return f"holds {n} records, not {rows}"
    return None


class StepStore:
    """Committed batches of one step, in ``steps/NN-STEP/``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._checked: set[int] = set()  # batches found whole in this process

    # ---- state
    def fingerprint(self) -> str | None:
        f = self.path / "_fingerprint"
        try:
            return f.read_text(encoding="utf-8").strip() if f.exists() else None
        except (OSError, ValueError):
            return None  # unreadable: not this fingerprint, so the step runs again

    def success(self) -> dict[str, Any] | None:
        f = self.path / "_SUCCESS.json"
        if not f.exists():
            return None
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict):
            log.warning("%s cannot be read: the step's batches are checked and it is finished again", self._shown(f))
            return None
        return data

    def is_done(self, fingerprint: str) -> bool:
        """Whether the step finished under ``fingerprint`` and every batch is still whole. A
        damaged batch is dropped (it is computed again when the step resumes)."""
        if self.fingerprint() != fingerprint or self.success() is None:
            return False
        return not self.drop_damaged()

    def prepare(self, fingerprint: str) -> bool:
        """Make the folder ready for ``fingerprint``; returns True when earlier batches of the
        same fingerprint are kept (a resume). Damaged batches are dropped, to be computed again."""
        if self.path.exists() and self.fingerprint() != fingerprint:
            shutil.rmtree(self.path)
            self._checked.clear()
        if self.path.exists():
            self.drop_damaged()
        resumed = self.path.exists() and any(self.committed())
        (self.path / "_batches").mkdir(parents=True, exist_ok=True)
        (self.path / "_SUCCESS.json").unlink(missing_ok=True)
        atomic_write_text(self.path / "_fingerprint", fingerprint)
        return resumed

    def committed(self) -> list[int]:
        d = self.path / "_batches"
        if not d.exists():
            return []
        # a file there that is not NNNNN.json is no marker
        return sorted(int(p.stem) for p in d.glob("*.json") if p.stem.isdigit())

    def has(self, i: int) -> bool:
        return self._marker_path(i).exists()

    def _marker_path(self, i: int) -> Path:
        return self.path / "_batches" / f"{i:05d}.json"

    def _marker(self, i: int) -> dict[str, Any] | None:
        """Batch ``i``'s marker, or None when it cannot be read or is not a marker."""
        try:
            data = json.loads(self._marker_path(i).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), int) for k in COUNT_KEYS):
            return None
        return data

    def batch_counts(self, i: int) -> dict[str, int]:
        marker = self._marker(i) or {}
        return {k: int(marker.get(k, 0)) for k in COUNT_KEYS}

    # ---- checking
    def _shown(self, f: Path) -> str:
        """``f`` as a log line names it: from the run directory's ``steps/`` folder."""
        try:
            return str(f.relative_to(self.path.parent.parent))
        except ValueError:
            return str(f)

    def damage(self, i: int) -> tuple[Path, str] | None:
        """The first damaged file of batch ``i`` and what is wrong with it (None when whole)."""
        marker = self._marker(i)
        if marker is None:
            return self._marker_path(i), "is not a readable batch marker"
        parts = marker.get("parts")
        for kind, count in _ROWS_OF.items():
            f = self._file(kind, i)
            name = str(f.relative_to(self.path))
            if isinstance(parts, dict):
                if name in parts:
                    problem = digest_problem(f, parts[name])
                elif f.exists():
                    problem = "is not part of the batch its marker records"
                else:
                    problem = None
            elif marker[count] > 0 or f.exists():  # a marker from before digests were kept
                problem = parquet_problem(f, marker[count])
            else:
                problem = None
            if problem is not None:
                return f, problem
        return None

    def drop_damaged(self) -> list[int]:
        """Drop every damaged batch (its marker first, then its parts), each with one log
        line; returns their numbers. Markers without digests whose parts are whole are given
        them."""
        dropped = []
        for i in self.committed():
            if i in self._checked:
                continue
            found = self.damage(i)
            if found is None:
                self._checked.add(i)
                marker = self._marker(i)
                if marker is not None and not isinstance(marker.get("parts"), dict):
                    marker["parts"] = self._part_digests(i)
                    atomic_write_text(self._marker_path(i), json.dumps(marker))
                continue
            f, problem = found
            log.warning("step %s: %s %s; batch %d is recomputed", self.path.name, self._shown(f), problem, i)
            self._marker_path(i).unlink(missing_ok=True)
            for kind in _ROWS_OF:
                self._file(kind, i).unlink(missing_ok=True)
            dropped.append(i)
        return dropped

    def _part_digests(self, i: int) -> dict[str, dict[str, Any]]:
        out = {}
        for kind in _ROWS_OF:
            f = self._file(kind, i)
            if f.exists():
                out[str(f.relative_to(self.path))] = file_digest(f)
        return out

    # ---- writing
    def commit(self, i: int, outcome: Outcome, step: str, n_in: int) -> dict[str, int]:
        """Write batch ``i`` (kept, rejected, quarantined), then its marker with the counts
        and each part's sha256 and size."""
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
        marker = {**counts, "parts": self._part_digests(i)}
        atomic_write_text(self._marker_path(i), json.dumps(marker))
        self._checked.add(i)
        return counts

    def finish(self, info: dict[str, Any]) -> None:
        atomic_write_text(self.path / "_SUCCESS.json", json.dumps(info, indent=2, sort_keys=True))

    # ---- reading
    def _file(self, kind: str, i: int) -> Path:
        if kind == KEPT:
            return self.path / _part(i)
        return self.path / kind / _part(i)

    def counts(self) -> dict[str, int]:
        total = {k: 0 for k in COUNT_KEYS}
        for i in self.committed():
            for k, v in self.batch_counts(i).items():
                total[k] += v
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
        self._known: dict[str, tuple[int, int, Any]] = {}  # file -> size, mtime, sha256 hashed here

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

    def _read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.outputs_state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_state(self, data: dict[str, Any]) -> None:
        atomic_write_text(self.outputs_state, json.dumps(data, indent=2, sort_keys=True, default=str))

    def read_outputs(self) -> dict[str, Any]:
        """The outputs state (empty when absent or unreadable: everything is redone).

        The export's entry is there only while the files it lists in ``dataset/`` are whole:
        a damaged one is logged and its entry removed, so the export is written again."""
        data = self._read_state()
        export = data.get("export")
        if export is not None:
            checked = self._check_export(export)
            if checked is None:
                data.pop("export")
                self._write_state(data)
            elif checked is not export:
                data["export"] = checked
                self._write_state(data)
        return data

    def update_outputs(self, **entries: Any) -> None:
        """Set (or, with ``None``, drop) entries of the outputs state, atomically. The files an
        ``export`` entry lists are recorded with their sha256 and size. (The entries are not
        checked here: dropping the export of a dataset moved aside is not a damage to report.)"""
        data = self._read_state()
        for k, v in entries.items():
            if v is None:
                data.pop(k, None)
            elif k == "export" and isinstance(v, dict) and isinstance(v.get("files"), list) and "digests" not in v:
                data[k] = {**v, "digests": {str(f): self._digest(self.dataset / str(f)) for f in v["files"]}}
            else:
                data[k] = v
        self._write_state(data)

    def _digest(self, path: Path) -> dict[str, Any]:
        d = file_digest(path)
        st = path.stat()
        self._known[str(path)] = (st.st_size, st.st_mtime_ns, d["sha256"])
        return d

    def _export_problem(self, name: str, recorded: Any, rows: Any) -> str | None:
        f = self.dataset / name
        if recorded is None:  # written before exports had digests: the file must parse
            return _dataset_file_problem(f, rows if isinstance(rows, int) else None)
        if f.is_file() and isinstance(recorded, dict):
            st = f.stat()
            if self._known.get(str(f)) == (st.st_size, st.st_mtime_ns, recorded.get("sha256")):
                return None  # hashed by this process, unchanged since
        problem = digest_problem(f, recorded)
        if problem is None and isinstance(recorded, dict):
            st = f.stat()
            self._known[str(f)] = (st.st_size, st.st_mtime_ns, recorded.get("sha256"))
        return problem

    def _check_export(self, export: Any) -> dict[str, Any] | None:
        """``export`` when its files are whole (given digests, when it had none), else None."""
        if not isinstance(export, dict) or not isinstance(export.get("files"), list):
            return None
        digests = export.get("digests")
        for name in export["files"]:
            recorded = digests.get(str(name)) if isinstance(digests, dict) else None
            if isinstance(digests, dict) and recorded is None:
                problem: str | None = "has no recorded digest"
            else:
                problem = self._export_problem(str(name), recorded, export.get("rows"))
            if problem is not None:
                log.warning("dataset/%s %s; the export is written again", name, problem)
                return None
        if isinstance(digests, dict):
            return export
        return {**export, "digests": {str(f): self._digest(self.dataset / str(f)) for f in export["files"]}}

    def remove_temp_files(self) -> int:
        """Delete leftover ``*.tmp`` files (writes cut short by a kill) anywhere in the run
        directory; returns how many. Only safe while holding :meth:`lock`."""
        n = 0
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                f = Path(folder) / name
                if name.endswith(".tmp") and f.is_file() and not f.is_symlink():
                    f.unlink(missing_ok=True)
                    n += 1
        if n:
            log.info("removed %d leftover temporary file(s) from %s", n, self.root)
        return n

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest.exists():
            raise InputError(f"{self.root}: not a tether run directory (no manifest.json)", hint="give the --run-dir of a run")
        try:
            data = json.loads(self.manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.manifest}: cannot be read ({type(exc).__name__})",
                             hint="rerun the pipeline into this run directory to write it again") from None
        if not isinstance(data, dict):
            raise InputError(f"{self.manifest}: not a run manifest (a JSON {type(data).__name__}, not an object)",
                             hint="rerun the pipeline into this run directory to write it again")
        return data

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
            self.remove_temp_files()
            yield
        finally:
            os.close(fd)


__all__ = ["COUNT_KEYS", "KEPT", "NAME_RULE", "QUARANTINE", "QUARANTINE_COLUMNS", "REJECTED", "REJECT_COLUMNS", "RunDir", "StepStore", "digest_problem", "file_digest", "name_problem"]
