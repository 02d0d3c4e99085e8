"""Attribute samplers: variety and edge cases on purpose, no LLM needed.

An attribute is one of:

- ``categories``: a list of values, or ``{value: weight}``;
- ``distribution``: ``uniform`` (low, high), ``normal`` (mean, std), ``lognormal`` (mean, std of
  the log), ``randint`` (low, high inclusive), clipped to ``min``/``max`` and rounded to
  ``round`` decimals (``round: 0`` gives integers);
- ``file``: values from a file (a ``.txt`` line each, or a ``column`` of a JSONL/CSV/Parquet
  file; no column gives whole rows, e.g. persona records), optionally ``weights_column``;
- ``fields``: a persona, a record combining several attributes;
- ``value``: a constant.

``sample`` (a source) makes ``n`` records; ``grid`` names categorical attributes whose full
product is covered. ``sample_attributes`` (a map) adds attributes to each incoming record.
Both are deterministic: every draw comes from the step's seeded generator.

Example:
    >>> step = Sample(n=3, attributes={"tone": {"categories": ["dry", "warm"]}})
    >>> sorted(step.output_columns())
    ['tone']
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from tether.core.registry import register
from tether.core.step import MapStep, Outcome, SourceStep
from tether.errors import ConfigError
from tether.generate._private import params_hash, read_seed_rows
from tether.records import ID, Record, canonical_json, new_record

if TYPE_CHECKING:
    from tether.core.context import StepContext

_KINDS = ("categories", "distribution", "file", "fields", "value")


class Attribute(BaseModel):
    """How one attribute is drawn. Give exactly one of: categories, distribution, file, fields, value."""

    model_config = ConfigDict(extra="forbid")

    categories: list[Any] | dict[str, float] | None = None
    """Values (drawn uniformly), or ``{value: weight}``."""
    distribution: Literal["uniform", "normal", "lognormal", "randint"] | None = None
    """A numeric distribution."""
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    """Clip draws below to this."""
    max: float | None = None
    """Clip draws above to this."""
    round: int | None = None
    """Decimals to keep; 0 gives integers."""
    file: str | None = None
    """A file of values (relative to the pipeline file)."""
    column: str | None = None
    """The file's column to draw; none gives whole rows."""
    weights_column: str | None = None
    """The file's column of weights."""
    fields: dict[str, Attribute] | None = None
    """A persona: a record of several attributes."""
    value: Any = None
    """A constant."""

    @model_validator(mode="after")
    def _one_kind(self) -> Attribute:
        given = [k for k in _KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(_KINDS)} (got {', '.join(given) or 'none'})")
        d = self.distribution
        if d in ("uniform", "randint") and (self.low is None or self.high is None):
            raise ValueError(f"distribution {d} needs low and high")
        if d in ("normal", "lognormal") and (self.mean is None or self.std is None):
            raise ValueError(f"distribution {d} needs mean and std")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("low must not exceed high")
        if isinstance(self.categories, dict) and (
            not self.categories or any(w < 0 for w in self.categories.values()) or sum(self.categories.values()) <= 0
        ):
            raise ValueError("category weights must be non-negative with a positive sum")
        if isinstance(self.categories, list) and not self.categories:
            raise ValueError("categories must not be empty")
        return self


class _Drawer:
    """An attribute with its file values loaded."""

    def __init__(self, name: str, spec: Attribute, ctx: StepContext | None) -> None:
        self.name = name
        self.spec = spec
        self.values: list[Any] | None = None
        self.weights: list[float] | None = None
        self.sub: dict[str, _Drawer] = {}
        if spec.categories is not None:
            if isinstance(spec.categories, dict):
                self.values = list(spec.categories)
                self.weights = [float(w) for w in spec.categories.values()]
            else:
                self.values = list(spec.categories)
        elif spec.file is not None:
            path = ctx.resolve(spec.file) if ctx is not None else Path(spec.file)
            rows = read_seed_rows(path, f"attribute {name}: file")
            if spec.column is not None:
                missing = [i for i, r in enumerate(rows) if spec.column not in r]
                if missing:
                    raise ConfigError(f"attribute {name}: file {spec.file} row {missing[0] + 1} has no column '{spec.column}'")
                self.values = [r[spec.column] for r in rows]
            else:
                self.values = [r if len(r) != 1 or "text" not in r else r["text"] for r in rows]
            if spec.weights_column is not None:
                self.weights = [float(r.get(spec.weights_column) or 0.0) for r in rows]
        elif spec.fields is not None:
            self.sub = {k: _Drawer(f"{name}.{k}", v, ctx) for k, v in spec.fields.items()}

    @property
    def discrete(self) -> bool:
        return self.values is not None

    def draw(self, rng: random.Random) -> Any:
        s = self.spec
        if self.values is not None:
            if self.weights is not None:
                return rng.choices(self.values, weights=self.weights, k=1)[0]
            return rng.choice(self.values)
        if self.sub:
            return {k: d.draw(rng) for k, d in self.sub.items()}
        if s.distribution is None:
            return s.value
        x: float
        if s.distribution == "uniform":
            x = rng.uniform(float(s.low), float(s.high))  # type: ignore[arg-type]
        elif s.distribution == "randint":
            x = rng.randint(math.ceil(s.low), math.floor(s.high))  # type: ignore[arg-type]
        elif s.distribution == "normal":
            x = rng.gauss(float(s.mean), float(s.std))  # type: ignore[arg-type]
        else:
            x = rng.lognormvariate(float(s.mean), float(s.std))  # type: ignore[arg-type]
        if s.min is not None:
            x = max(x, s.min)
        if s.max is not None:
            x = min(x, s.max)
        if s.distribution == "randint" or s.round == 0:
            return int(round(x))
        return round(x, s.round) if s.round is not None else x


def _drawers(attributes: dict[str, Attribute], ctx: StepContext | None) -> dict[str, _Drawer]:
    return {name: _Drawer(name, spec, ctx) for name, spec in attributes.items()}


@register
class Sample(SourceStep):
    """Make records of sampled attributes, to feed prompt templates."""

    type: ClassVar[str] = "sample"
    description: ClassVar[str] = (
        "Make n records of sampled attributes (categories, distributions, file values, personas), "
        "optionally covering a grid of attributes in full."
    )

    attributes: dict[str, Attribute] = Field(min_length=1)
    """Attribute name -> how it is drawn."""
    n: int | None = Field(None, ge=1)
    """How many records; with a grid, defaults to the number of grid cells (and must cover them)."""
    grid: list[str] = Field(default_factory=list)
    """Categorical attributes whose every combination appears (cells cycled to fill n)."""

    _drawers: dict[str, _Drawer] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Sample:
        for g in self.grid:
            if g not in self.attributes:
                raise ValueError(f"grid attribute '{g}' is not among the attributes")
        if not self.grid and self.n is None:
            raise ValueError("give n (or a grid)")
        return self

    def output_columns(self) -> set[str]:
        return set(self.attributes)

    def peek_columns(self, ctx: StepContext) -> set[str]:
        return set(self.attributes)

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        from tether.io._private import file_sha256

        files = {}
        for spec in _walk(self.attributes):
            if spec.file is not None and ctx.resolve(spec.file).exists():
                files[spec.file] = file_sha256(ctx.resolve(spec.file))
        return files or None

    def setup(self, ctx: StepContext) -> None:
        self._drawers = _drawers(self.attributes, ctx)

    def cells(self) -> list[dict[str, Any]]:
        """Every combination of the grid attributes' values."""
        if not self.grid:
            return []
        axes = []
        for g in self.grid:
            d = self._drawers[g]
            if not d.discrete:
                raise ConfigError(f"step {self.instance_name}: grid attribute '{g}' must have categories or a file of values")
            assert d.values is not None
            unique: dict[str, Any] = {}
            for v in d.values:
                unique.setdefault(canonical_json(v), v)
            axes.append(list(unique.values()))
        return [dict(zip(self.grid, combo, strict=True)) for combo in itertools.product(*axes)]

    def read(self, ctx: StepContext) -> Iterator[Outcome]:
        if not self._drawers:
            self.setup(ctx)
        rng = ctx.rng("sample")
        cells = self.cells()
        n = self.n if self.n is not None else len(cells)
        if cells and n < len(cells):
            raise ConfigError(
                f"step {self.instance_name}: n={n} cannot cover the grid's {len(cells)} cells",
                hint=f"raise n to at least {len(cells)} or leave it out",
            )
        order: list[dict[str, Any]] = []
        while cells and len(order) < n:
            block = list(cells)
            rng.shuffle(block)
            order.extend(block)
        ph = params_hash(self)
        batch = Outcome()
        for i in range(n):
            data = {name: d.draw(rng) for name, d in self._drawers.items() if name not in self.grid}
            if cells:
                data.update(order[i])
            data = {name: data[name] for name in self.attributes}
            batch.kept.append(new_record(data, step=self.instance_name, recipe="sample", params_hash=ph,
                                         source=f"sample:{i}", run_id=ctx.run_id))
            if len(batch.kept) >= ctx.batch_size:
                yield batch
                batch = Outcome()
        if batch.kept:
            yield batch


@register
class SampleAttributes(MapStep):
    """Add sampled attributes to each incoming record (drawn per record, deterministically)."""

    type: ClassVar[str] = "sample_attributes"
    description: ClassVar[str] = "Add sampled attributes to each record (categories, distributions, file values, personas)."

    attributes: dict[str, Attribute] = Field(min_length=1)
    """Attribute name -> how it is drawn."""
    overwrite: bool = False
    """Replace a column the record already has (otherwise that is an error)."""

    _drawers: dict[str, _Drawer] = PrivateAttr(default_factory=dict)

    def output_columns(self) -> set[str]:
        return set(self.attributes)

    def setup(self, ctx: StepContext) -> None:
        self._drawers = _drawers(self.attributes, ctx)

    def map(self, record: Record, ctx: StepContext) -> Record:
        rng = ctx.rng(str(record.get(ID)))
        out = dict(record)
        for name, d in self._drawers.items():
            if name in record and not self.overwrite:
                raise ConfigError(
                    f"step {self.instance_name}: the records already have a column '{name}'",
                    hint="rename the attribute or set overwrite: true",
                )
            out[name] = d.draw(rng)
        return out


def _walk(attrs: dict[str, Attribute]) -> Iterator[Attribute]:
    for spec in attrs.values():
        yield spec
        if spec.fields:
            yield from _walk(spec.fields)


__all__ = ["Attribute", "Sample", "SampleAttributes"]
