"""The step contract: source, map, filter and global steps.

A step is a pydantic model (``extra="forbid"``): its fields are its whole configuration, so it
round-trips to YAML and its canonical JSON is part of its fingerprint. Clients, models and
templates are private attributes built in :meth:`Step.setup`, never pickled.

The base classes own the loop, the counters, the ``on_error`` policy and the rejected and
quarantine sinks; a step implements only what it decides:

- :class:`SourceStep`: ``read(ctx)`` yields batches of records (and bad rows as quarantine).
- :class:`MapStep`: ``map(record, ctx)`` (or ``async amap``) returns zero or more records.
- :class:`FilterStep`: ``keep(record, ctx)`` (or ``async akeep``) returns a :class:`Verdict`.
- :class:`GlobalStep`: ``process(records, ctx)`` sees the whole dataset (dedup, audit).

Example:
    >>> class Short(FilterStep):
    ...     type: ClassVar[str] = "short"
    ...     description: ClassVar[str] = "Keep texts of at most max_chars characters."
    ...     max_chars: int = 100
    ...     def input_columns(self) -> set[str]:
    ...         return {"text"}
    ...     def keep(self, record, ctx):
    ...         n = len(record["text"])
    ...         return Verdict(n <= self.max_chars, "too_long", float(n))
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tether.errors import ConfigError, StepError, TetherError
from tether.records import ID, LINEAGE, Record, canonical_json, digest

if TYPE_CHECKING:
    from tether.core.context import StepContext

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip", "quarantine"]

#: Called once per record a map or filter step finishes (the runner counts progress with it).
#: A context variable, so each batch task of the runner reports to its own counter.
record_done: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "tether_record_done", default=None
)


@dataclass(frozen=True)
class Verdict:
    """A filter's decision on one record.

    Args:
        keep: whether the record stays.
        reason: a stable snake_case code saying why it was rejected (ignored when kept).
        score: the number the decision was made on, written to ``STEP__score``.
        details: extra values written on the record as ``STEP__KEY`` columns.
    """

    keep: bool
    reason: str = ""
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a step made of a batch: kept records, rejected ones with their verdicts, and
    quarantined ones with their error."""

    kept: list[Record] = field(default_factory=list)
    rejected: list[tuple[Record, Verdict]] = field(default_factory=list)
    quarantined: list[tuple[Record, BaseException | str, str | None]] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.kept.extend(other.kept)
        self.rejected.extend(other.rejected)
        self.quarantined.extend(other.quarantined)


class Step(BaseModel):
    """Base of every step. Subclasses set ``type``, ``kind`` and ``description``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True,
                              populate_by_name=True)

    type: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""

    requires: ClassVar[dict[str, str]] = {}
    """Optional Python packages the step imports when it runs: import name -> what to install
    (``{"transformers": "pip install 'tether[ml]'"}``). ``tether validate`` and ``tether run``
    check them before anything runs; override :meth:`required_modules` when they depend on the
    config."""

    name: str | None = None
    """The step instance's name (unique in a pipeline); defaults to its type."""
    on_error: OnError = "raise"
    """What to do with a record the step fails on: stop the run, reject it, or quarantine it."""
    inputs: list[str] | None = Field(None, alias="from")
    """The steps whose records this one reads, by name (``from: [answers_a, answers_b]``: their
    outputs in that order, one after the other); default: the step before it. Naming inputs
    makes the pipeline a graph: fan one set of prompts out to several models, then join."""

    @field_validator("inputs", mode="before")
    @classmethod
    def _one_input(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    min_keep: float | None = Field(None, ge=0, le=1)
    """Stop the run (exit 5) when the step keeps less than this share of its input records,
    naming its top rejection reasons; its output stays, and a rerun stops again until the
    cause is fixed (then ``tether run --from STEP``). A step that keeps nothing is warned
    about in any case."""

    # ---- what a step declares
    def input_columns(self) -> set[str]:
        """Columns the step reads; checked before anything runs."""
        return set()

    def output_columns(self) -> set[str]:
        """Columns the step adds."""
        return set()

    def removed_columns(self) -> set[str]:
        """Columns the step removes (rare)."""
        return set()

    def required_modules(self) -> dict[str, str]:
        """The optional packages this configuration of the step needs (default: ``requires``)."""
        return dict(self.requires)

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        """Anything besides the config that the output depends on (e.g. digests of files the
        step reads). Part of the fingerprint."""
        return None

    # ---- lifecycle
    def setup(self, ctx: StepContext) -> None:
        """Build clients, models and templates. Called once before the first batch."""

    def teardown(self) -> None:
        """Release what ``setup`` built."""

    # ---- helpers
    @property
    def instance_name(self) -> str:
        return self.name or self.type

    def with_resolved_files(self, base_dir: Path) -> Step:
        """A copy whose relative ``*_file`` fields are resolved against ``base_dir``, as
        :meth:`StepContext.resolve` resolves them at setup. For checks made before anything
        runs: ``input_columns()`` of the copy parses a template file named relative to the
        pipeline file, wherever the command runs from."""
        update = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name.endswith("_file") and isinstance(value, str) and value:
                p = Path(value).expanduser()
                if not p.is_absolute():
                    update[name] = str(base_dir / p)
        return self.model_copy(update=update) if update else self

    def config_dict(self) -> dict[str, Any]:
        """The step as it appears in a pipeline config: ``{type: {field: value}}``."""
        return {self.type: self.model_dump(mode="json", exclude_defaults=True, by_alias=True)}

    def config_hash(self) -> str:
        return digest(canonical_json(self.model_dump(mode="json")))

    def col(self, key: str) -> str:
        """The name of a score/verdict column this step writes: ``STEP__KEY``."""
        return f"{self.instance_name}__{key}"

    async def run_all(self, records: Sequence[Record], ctx: StepContext) -> Outcome:
        """The step over a whole input at once (no run directory, no batches): what an
        executor that does not batch calls, whatever the step's kind."""
        raise NotImplementedError(f"step {self.type} has no kind an executor knows ({self.kind!r})")

    def error_outcome(self, exc: BaseException, record: Record, *, reason: str = "error",
                      raw: str | None = None) -> Outcome:
        """The ``on_error`` policy for a record the step failed on, in the one place it is
        written (record steps, global steps' own loops and sources use it): raises when the
        policy (or the error) says the run stops; otherwise the record rejected with ``reason``
        and the error text (``skip``), or quarantined with the error and ``raw`` (the text
        the error carries, by default)."""
        self._error_policy(exc, record)
        if self.on_error == "skip":
            return Outcome(rejected=[(record, Verdict(False, reason, None, {"error": _error_text(exc)}))])
        return Outcome(quarantined=[(record, exc, raw if raw is not None else getattr(exc, "raw", None))])

    def _error_policy(self, exc: BaseException, record: Record) -> None:
        """Raise if the policy (or the error) says the run must stop."""
        if isinstance(exc, TetherError) and exc.aborts_run:
            raise exc
        if self.on_error == "raise":
            if isinstance(exc, TetherError):
                raise StepError(
                    exc.message,
                    step=self.instance_name,
                    record_id=record.get(ID),
                    hint=exc.hint or "set on_error: quarantine on this step to set such records aside",
                    exit_code=exc.exit_code,
                ) from exc
            raise exc


def _error_text(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    if isinstance(exc, TetherError):
        return exc.message
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


#: ``ctx.stats`` key (kept out of the manifest by its ``_``) set once a run's first batch of a
#: step had the columns it reads: a later part of the input may lack a sparse column entirely.
_COLUMNS_CHECKED = "_columns_checked"


def check_record_columns(step: Step, records: Sequence[Record], ctx: StepContext) -> None:
    """Raise a :class:`ConfigError` naming the step when a column it reads is in none of the
    records of its first batch: an absent column is a wrong config, not empty text (a null
    value, or a column only some batches have, is fine)."""
    if not records or ctx.stats.get(_COLUMNS_CHECKED):
        return
    need = step.with_resolved_files(ctx.base_dir).input_columns()
    missing = sorted(c for c in need if not any(c in r for r in records))
    if missing:
        have = sorted({k for r in records for k in r} - {ID, LINEAGE})
        raise ConfigError(
            f"step {step.instance_name} reads column(s) {', '.join(missing)}, but its records have: "
            f"{', '.join(have) or 'none'}",
            hint="map a column on the read step (text_field: or rename:), or point the step's fields: "
            "(or *_field / *_column) at a column the records have",
        )
    ctx.stats[_COLUMNS_CHECKED] = True


_Batch = Callable[[Any, Any, Any], Awaitable[Any]]


def _checks_columns(fn: _Batch) -> _Batch:
    """Wrap a step's batch entry point (``run_batch``, ``aprocess``) with :func:`check_record_columns`."""
    if getattr(fn, "_checks_columns", False):
        return fn

    @functools.wraps(fn)
    async def wrapper(self: Step, records: Sequence[Record], ctx: StepContext) -> Any:
        check_record_columns(self, records, ctx)
        return await fn(self, records, ctx)

    wrapper._checks_columns = True  # type: ignore[attr-defined]
    return wrapper


class SourceStep(Step):
    """A step that makes records from outside data (files, a sampler). First in a pipeline."""

    kind: ClassVar[str] = "source"

    def read(self, ctx: StepContext) -> Iterator[Outcome]:
        """Yield batches: kept records, and bad rows as quarantined (with ``on_error``)."""
        raise NotImplementedError

    async def run_all(self, records: Sequence[Record], ctx: StepContext) -> Outcome:
        out = Outcome()
        for batch in self.read(ctx):
            out.extend(batch)
        return out


class _RecordStep(Step):
    """Shared loop of map and filter steps: each record on its own, concurrently in a batch."""

    overlap_batches: ClassVar[bool | None] = None
    """Whether the runner may run several batches at once (so a slow record does not hold the
    next batch back). ``None``: yes unless the step overrides ``run_batch`` (such steps keep
    per-batch state on the instance); set ``False`` on a step that keeps state between records."""

    @classmethod
    def batches_may_overlap(cls) -> bool:
        if cls.overlap_batches is not None:
            return cls.overlap_batches
        return cls.run_batch is _RecordStep.run_batch

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "run_batch" in cls.__dict__:  # an override still checks the columns it reads
            cls.run_batch = _checks_columns(cls.__dict__["run_batch"])  # type: ignore[method-assign]

    async def _one(self, record: Record, ctx: StepContext) -> Outcome:
        raise NotImplementedError

    async def run_all(self, records: Sequence[Record], ctx: StepContext) -> Outcome:
        return await self.run_batch(records, ctx)

    async def _whole_batch(self, batch: Sequence[Record], ctx: StepContext) -> list[Outcome] | None:
        """One outcome per record when the step decides a batch at once (``keep_batch``);
        ``None`` to decide each record on its own."""
        return None

    @_checks_columns
    async def run_batch(self, batch: Sequence[Record], ctx: StepContext) -> Outcome:
        """Process a batch; records run concurrently (LLM steps are bounded by the client)."""
        tick = record_done.get()
        whole = await self._whole_batch(batch, ctx)
        if whole is not None:
            out = Outcome()
            for r in whole:
                out.extend(r)
                if tick is not None:
                    tick()
            return out

        async def guarded(rec: Record) -> Outcome:
            try:
                return await self._one(rec, ctx)
            except Exception as exc:  # noqa: BLE001 - the policy decides
                return self.error_outcome(exc, rec)
            finally:
                tick = record_done.get()
                if tick is not None:
                    tick()

        results = await asyncio.gather(*(guarded(r) for r in batch))
        out = Outcome()
        for r in results:
            out.extend(r)
        return out


class MapStep(_RecordStep):
    """One record in, zero or more out. Return a record, a list, a rejecting
    :class:`Verdict` (the input goes to the rejected set), or an :class:`Outcome`."""

    kind: ClassVar[str] = "map"

    def map(self, record: Record, ctx: StepContext) -> Record | list[Record] | Verdict | Outcome:
        raise NotImplementedError(f"step {self.type} implements neither map nor amap")

    async def amap(self, record: Record, ctx: StepContext) -> Record | list[Record] | Verdict | Outcome:
        return self.map(record, ctx)

    async def _one(self, record: Record, ctx: StepContext) -> Outcome:
        res = await self.amap(record, ctx)
        if isinstance(res, Outcome):
            return res
        if isinstance(res, Verdict):
            if res.keep:
                return Outcome(kept=[record])
            return Outcome(rejected=[(record, res)])
        if isinstance(res, dict):
            return Outcome(kept=[res])
        return Outcome(kept=list(res))


class FilterStep(_RecordStep):
    """Keep or reject each record with a reason and a score; never drops silently."""

    kind: ClassVar[str] = "filter"

    def keep(self, record: Record, ctx: StepContext) -> Verdict:
        raise NotImplementedError(f"step {self.type} implements neither keep nor akeep")

    async def akeep(self, record: Record, ctx: StepContext) -> Verdict:
        return self.keep(record, ctx)

    def keep_batch(self, records: Sequence[Record], ctx: StepContext) -> Sequence[Verdict]:
        """Decide a whole batch in one call, one verdict per record in order: for a step that
        scores many texts at once (a model, an embedder). Implement it instead of ``keep``;
        the base class owns the loop, the annotations and ``on_error`` (an exception here
        applies the policy to every record of the batch). Nothing is kept on the instance
        between batches, so batches may run concurrently."""
        raise NotImplementedError(f"step {self.type} does not implement keep_batch")

    async def akeep_batch(self, records: Sequence[Record], ctx: StepContext) -> Sequence[Verdict]:
        return self.keep_batch(records, ctx)

    def _decides_batches(self) -> bool:
        cls = type(self)
        return cls.keep_batch is not FilterStep.keep_batch or cls.akeep_batch is not FilterStep.akeep_batch

    async def _whole_batch(self, batch: Sequence[Record], ctx: StepContext) -> list[Outcome] | None:
        if not self._decides_batches():
            return None
        if not batch:
            return []
        try:
            verdicts = list(await self.akeep_batch(batch, ctx))
            if len(verdicts) != len(batch):
                raise StepError(f"keep_batch returned {len(verdicts)} verdicts for {len(batch)} records",
                                step=self.instance_name)
        except StepError:
            raise
        except Exception as exc:  # noqa: BLE001 - the policy decides, record by record
            return [self.error_outcome(exc, rec) for rec in batch]
        out = []
        for rec, v in zip(batch, verdicts, strict=True):
            annotated = self.annotate(rec, v)
            out.append(Outcome(kept=[annotated]) if v.keep else Outcome(rejected=[(annotated, v)]))
        return out

    def output_columns(self) -> set[str]:
        return {self.col("score")}

    def annotate(self, record: Record, verdict: Verdict) -> Record:
        """Write the verdict's score and details on the record."""
        out = dict(record)
        out[self.col("score")] = verdict.score
        for k, v in verdict.details.items():
            out[self.col(k)] = v
        return out

    async def _one(self, record: Record, ctx: StepContext) -> Outcome:
        v = await self.akeep(record, ctx)
        rec = self.annotate(record, v)
        if v.keep:
            return Outcome(kept=[rec])
        return Outcome(rejected=[(rec, v)])


class GlobalStep(Step):
    """A step that needs the whole dataset at once (dedup, mixing, audit)."""

    kind: ClassVar[str] = "global"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "aprocess" in cls.__dict__:  # an override still checks the columns it reads
            cls.aprocess = _checks_columns(cls.__dict__["aprocess"])  # type: ignore[method-assign]

    def process(self, records: list[Record], ctx: StepContext) -> Outcome:
        raise NotImplementedError(f"step {self.type} does not implement process")

    @_checks_columns
    async def aprocess(self, records: list[Record], ctx: StepContext) -> Outcome:
        return self.process(records, ctx)

    async def run_all(self, records: Sequence[Record], ctx: StepContext) -> Outcome:
        return await self.aprocess(list(records), ctx)


__all__ = [
    "FilterStep",
    "GlobalStep",
    "MapStep",
    "OnError",
    "Outcome",
    "SourceStep",
    "Step",
    "Verdict",
]
