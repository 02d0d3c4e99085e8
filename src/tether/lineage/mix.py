"""Hybrid mixing of real and synthetic records, and phased (curriculum) ordering.

- :func:`mix_records` picks a set share of synthetic records (``ratio``), optionally per
  stratum of a field, at random but seeded; records keep their lineage and origin.
- :func:`phase_order` orders records in phases by a field (e.g. a taxonomy path's top level:
  knowledge -> foundational -> compositional); each later phase replays a fraction of the
  records of the phases before it.

Mixing is the ``mix`` step; both serve the ``tether mix`` command.

Example:
    >>> import random
    >>> real = [new_record({"text": f"r{i}"}, origin="real") for i in range(30)]
    >>> syn = [new_record({"text": f"s{i}"}) for i in range(100)]
    >>> res = mix_records(real, syn, ratio=0.25, rng=random.Random(0))
    >>> res.report["selected"]
    {'real': 30, 'synthetic': 10}
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from tether.core.rundir import RunDir
from tether.errors import ConfigError, InputError
from tether.records import (
    ID,
    LINEAGE,
    ORIGIN_REAL,
    ORIGIN_SYNTHETIC,
    Record,
    child,
    new_record,
    payload,
    to_table,
)

log = logging.getLogger(__name__)

NOT_SELECTED = "not_selected_for_mix"
PHASE_NOT_LISTED = "phase_not_listed"
MISSING_STRATUM = "(missing)"


def origin_of(rec: Record, default: str | None = None) -> str | None:
    lin = rec.get(LINEAGE)
    if isinstance(lin, dict) and lin.get("origin"):
        return str(lin["origin"])
    return default


def _alloc(n_real: int, n_syn: int, ratio: float, size: int | None) -> tuple[int, int]:
    """How many (real, synthetic) records to take so synthetic / total == ratio, as many as
    the scarcer side allows (or ``size`` in all, when it fits)."""
    if ratio <= 0.0:
        return min(n_real, size if size is not None else n_real), 0
    if ratio >= 1.0:
        return 0, min(n_syn, size if size is not None else n_syn)
    t_max = min(n_real / (1.0 - ratio), n_syn / ratio)
    total = min(float(size), t_max) if size is not None else t_max
    total_i = math.floor(total + 1e-9)
    s = min(round(ratio * total_i), n_syn)
    r = min(total_i - s, n_real)
    return r, s


def _stratum(rec: Record, by: str) -> str:
    v = rec.get(by)
    if v is None:
        return MISSING_STRATUM
    return v if isinstance(v, str) else str(v)


@dataclass
class MixResult:
    """Selected records (shuffled together), the ones left out, and counts."""

    selected: list[Record] = field(default_factory=list)
    unselected: list[Record] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def mix_records(
    real: list[Record],
    synthetic: list[Record],
    *,
    ratio: float,
    rng: random.Random,
    stratify_by: str | None = None,
    size: int | None = None,
) -> MixResult:
    """Mix so that ``ratio`` of the result is synthetic.

    Without ``size`` the scarcer side is used whole and the other is sampled to fit. With
    ``stratify_by``, every stratum (value of that field) gets the same synthetic share, and
    with ``size`` the strata sizes follow the real records' distribution of the field.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"ratio must be between 0 and 1 (the synthetic share), got {ratio}")
    if size is not None and size < 0:
        raise ConfigError(f"size must be >= 0, got {size}")
    groups: dict[str, tuple[list[Record], list[Record]]] = {}
    if stratify_by is None:
        groups["all"] = (list(real), list(synthetic))
    else:
        for r in real:
            groups.setdefault(_stratum(r, stratify_by), ([], []))[0].append(r)
        for s in synthetic:
            groups.setdefault(_stratum(s, stratify_by), ([], []))[1].append(s)
    res = MixResult()
    strata: dict[str, dict[str, int]] = {}
    for key in sorted(groups):
        rs, ss = groups[key]
        part_size = None
        if size is not None:
            share = (len(rs) / len(real)) if (stratify_by and real) else (1.0 if not stratify_by else 0.0)
            part_size = round(size * share)
        n_r, n_s = _alloc(len(rs), len(ss), ratio, part_size)
        if stratify_by is not None and 0.0 < ratio < 1.0 and not (rs and ss):
            log.warning("mix: stratum %s=%r has only %s records; at ratio %s none of them can be used",
                        stratify_by, key, "real" if rs else "synthetic", ratio)
        ri = sorted(rng.sample(range(len(rs)), n_r))
        si = sorted(rng.sample(range(len(ss)), n_s))
        pick_r, pick_s = set(ri), set(si)
        res.selected += [rs[i] for i in ri] + [ss[i] for i in si]
        res.unselected += [r for i, r in enumerate(rs) if i not in pick_r] + [s for i, s in enumerate(ss) if i not in pick_s]
        strata[key] = {"real": len(rs), "synthetic": len(ss), "real_selected": n_r, "synthetic_selected": n_s}
    rng.shuffle(res.selected)
    n_sel_s = sum(v["synthetic_selected"] for v in strata.values())
    n_sel = len(res.selected)
    res.report = {
        "ratio": ratio,
        "available": {"real": len(real), "synthetic": len(synthetic)},
        "selected": {"real": n_sel - n_sel_s, "synthetic": n_sel_s},
        "synthetic_share": (n_sel_s / n_sel) if n_sel else float("nan"),
        "unselected": len(res.unselected),
    }
    if stratify_by is not None:
        res.report["stratify_by"] = stratify_by
        res.report["strata"] = strata
    return res


def phase_key(value: Any, sep: str = "/") -> str | None:
    """The phase of a field value: the first level of a path (``"a/b"`` or ``["a", "b"]``)."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return phase_key(value[0], sep) if value else None
    text = value if isinstance(value, str) else str(value)
    return text.split(sep, 1)[0].strip().lower() if sep else text.strip().lower()


UnlistedPolicy = Literal["error", "last", "reject"]
#: what :func:`phase_order` may do with records of a phase its ``order`` does not list
UNLISTED_POLICIES: tuple[str, ...] = ("error", "last", "reject")
#: the report's name for the phase of unlisted records when they come last
UNLISTED_PHASE = "(unlisted)"


def phase_order(
    records: list[Record],
    *,
    by: str,
    order: list[str],
    replay: float,
    rng: random.Random,
    sep: str = "/",
    step: str = "mix",
    shuffle: bool = True,
    unlisted: UnlistedPolicy = "error",
    run_id: str | None = None,
) -> tuple[list[Record], list[Record], dict[str, Any]]:
    """Order records in phases; returns (ordered, set aside, report).

    This is the one implementation of phased (curriculum) ordering: the ``phase_order``
    pipeline step and ``tether mix --phases`` both call it.

    A record's phase is :func:`phase_key` of its ``by`` field (the first level of a path,
    lower-cased), matched against ``order`` (lower-cased). Each ordered record gets ``phase``
    (its phase name), ``phase_index`` (its phase's position) and ``replay`` (False). Phase
    ``k`` (k >= 2) is followed by ``round(replay * size of phase k)`` replayed copies sampled
    from the records of phases 1..k-1: new records (``replay`` True, ``lineage.recipe``
    "replay", ``lineage.parents`` the original id; origin, source, model and template and
    prompt hashes kept from it) placed at random inside phase k.

    Records whose phase is not in ``order`` (or who have none) follow ``unlisted``:

    - ``"error"`` (default): a :class:`ConfigError` naming the unlisted phases and their counts;
    - ``"last"``: they come last, as one more phase named ``"(unlisted)"`` (``phase_index`` =
      ``len(order)``), replay included;
    - ``"reject"``: they are returned, unchanged, as the second element (the step rejects them
      with reason ``phase_not_listed``; ``tether mix`` writes them to ``unselected.parquet``).

    Example:
        >>> recs = [new_record({"tax": t}) for t in ("skills/a", "knowledge/b", "misc")]
        >>> out, aside, rep = phase_order(recs, by="tax", order=["knowledge", "skills"], replay=0.0,
        ...                               rng=random.Random(0), unlisted="reject")
        >>> [r["phase"] for r in out], len(aside)
        (['knowledge', 'skills'], 1)
    """
    if not 0.0 <= replay <= 1.0:
        raise ConfigError(f"replay must be between 0 and 1, got {replay}")
    if unlisted not in UNLISTED_POLICIES:
        raise ConfigError(f"unlisted must be one of {', '.join(UNLISTED_POLICIES)}, got {unlisted!r}")
    names = [str(o).strip().lower() for o in order]
    if len(set(names)) != len(names) or not names or not all(names):
        raise ConfigError(f"phases must be distinct, non-empty names, got {order}")
    buckets: dict[str, list[Record]] = {n: [] for n in names}
    left: list[Record] = []
    for rec in records:
        k = phase_key(rec.get(by), sep)
        if k in buckets:
            buckets[k].append({**rec, "phase": k, "phase_index": names.index(k), "replay": False})
        else:
            left.append(rec)
    if left and unlisted == "error":
        found = Counter(phase_key(r.get(by), sep) or MISSING_STRATUM for r in left)
        listed = ", ".join(f"'{k}' ({n} records)" for k, n in sorted(found.items()))
        raise ConfigError(
            f"records of phases not in the phase order {names}: {listed}",
            hint="list those phases, or say what to do with them: unlisted: last (they come last) "
                 "or unlisted: reject (they are set aside as phase_not_listed)",
        )
    blocks: list[tuple[str, list[Record]]] = [(n, buckets[n]) for n in names]
    if left and unlisted == "last":
        tail = [{**r, "phase": UNLISTED_PHASE, "phase_index": len(names), "replay": False} for r in left]
        blocks.append((UNLISTED_PHASE, tail))
        left = []
    out: list[Record] = []
    earlier: list[Record] = []
    report: dict[str, Any] = {"by": by, "phases": {}, "replay": replay, "unlisted": unlisted}
    for idx, (n, block) in enumerate(blocks):
        k_replay = min(round(replay * len(block)), len(earlier)) if earlier else 0
        copies = []
        for orig in rng.sample(earlier, k_replay):
            lin = orig.get(LINEAGE) or {}
            data = {**payload(orig), "phase": n, "phase_index": idx, "replay": True}
            # a copy carries what made its content: origin, source, model, template and prompt
            copies.append(child(orig, data, step=step, recipe="replay", origin=lin.get("origin") or ORIGIN_SYNTHETIC,
                                source=lin.get("source"), model=lin.get("model"),
                                template_hash=lin.get("template_hash"), prompt_hash=lin.get("prompt_hash"),
                                run_id=run_id or lin.get("run_id")))
        block_all = block + copies
        if shuffle:
            rng.shuffle(block_all)
        out += block_all
        earlier += block
        report["phases"][n] = {"records": len(block), "replayed": len(copies)}
    report["not_listed"] = len(left)
    return out, left, report


# ---------------------------------------------------------------- reading datasets


def read_dataset(path: str | Path, origin: str | None = None, rename: dict[str, str] | None = None,
                 fmt: str = "auto", *, step: str = "mix", base_dir: Path | None = None) -> list[Record]:
    """Records of a run directory (its final records), a tether dataset file (records keep
    their id and lineage), or any readable file (new records with ``origin``, made by
    ``step``, their ``source`` written relative to ``base_dir`` so ids do not depend on it)."""
    from tether.io.readers import read_rows

    p = Path(path)
    if p.is_dir() and (p / "manifest.json").exists():
        stores = RunDir(p).step_stores()
        if not stores:
            raise InputError(f"{p}: the run has no steps yet", hint="run the pipeline first")
        return list(stores[-1][1].iter_records())
    if not p.exists():
        raise InputError(f"{p}: no such file or folder", hint="give a run directory or a dataset file")
    mapping = dict(rename or {})
    out = []
    for row in read_rows(p, fmt):  # type: ignore[arg-type]
        if row.error is not None:
            raise row.error
        assert row.data is not None
        data = {mapping.get(k, k): v for k, v in row.data.items()}
        lin = data.get(LINEAGE)
        if isinstance(lin, dict) and lin.get("origin") and data.get(ID):
            out.append(data)
            continue
        if isinstance(lin, str):
            data.pop(LINEAGE)
        data.pop(ID, None)
        where = row.where
        if base_dir is not None:
            with contextlib.suppress(ValueError):
                where = where.replace(str(p), str(p.relative_to(base_dir)), 1)
        out.append(new_record(data, origin=origin or ORIGIN_REAL, step=step, source=where))
    return out


def load_table(path: str | Path) -> tuple[pa.Table, Path]:
    """A dataset as an Arrow table and the folder exports go to by default."""
    p = Path(path)
    if p.is_dir() and (p / "manifest.json").exists():
        stores = RunDir(p).step_stores()
        if not stores:
            raise InputError(f"{p}: the run has no steps yet", hint="run the pipeline first")
        return stores[-1][1].table(), p / "dataset"
    if not p.exists():
        raise InputError(f"{p}: no such file or folder", hint="give a run directory or a dataset file")
    recs = [r if isinstance(r.get(LINEAGE), dict) else {k: v for k, v in r.items() if k != LINEAGE}
            for r in _plain_rows(p)]
    return to_table(recs) if recs else pa.table({}), (p.parent if p.is_file() else p) / "export"


def _plain_rows(p: Path) -> list[Record]:
    from tether.io.readers import read_records

    return read_records(p)


def origin_counts(records: list[Record]) -> dict[str, int]:
    return dict(Counter(origin_of(r, "unknown") or "unknown" for r in records))


__all__ = [
    "MISSING_STRATUM",
    "NOT_SELECTED",
    "PHASE_NOT_LISTED",
    "UNLISTED_PHASE",
    "UNLISTED_POLICIES",
    "MixResult",
    "load_table",
    "mix_records",
    "origin_counts",
    "origin_of",
    "phase_key",
    "phase_order",
    "read_dataset",
    "UnlistedPolicy",
]
