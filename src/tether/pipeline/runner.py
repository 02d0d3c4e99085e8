"""Run a pipeline into a run directory, resumably.

Each step's fingerprint is a hash of its config, the fingerprint of the step before it, what
the step declares it depends on (input file digests) and the tether version. A step whose
fingerprint matches a finished step folder is skipped; a step folder with the same
fingerprint but no ``_SUCCESS.json`` is resumed from its committed batches.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tether.core.context import StepContext
from tether.core.resources import RunResources
from tether.core.rundir import RunDir, StepStore
from tether.core.step import GlobalStep, Outcome, SourceStep, Step, _RecordStep, record_done
from tether.errors import ConfigError, InputError, TetherError
from tether.io._private import atomic_write_text
from tether.io.writers import write_jsonl, write_parquet
from tether.pipeline.config import PipelineConfig, build_steps, step_inputs
from tether.pipeline.manifest import Manifest
from tether.pipeline.progress import Progress
from tether.pipeline.usage import (
    AttemptUsage,
    ByClient,
    add_usage,
    flat_usage,
    manifest_llm,
    read_attempts,
)
from tether.records import LINEAGE, Record, digest, table_digest

log = logging.getLogger(__name__)

#: Batches of one map or filter step in flight at once (when the step allows it): a batch
#: that waits on a few slow records does not stop the next ones from filling the LLM's slots.
BATCHES_IN_FLIGHT = 4
#: Seconds between progress heartbeats (log lines off a terminal, even when nothing finished).
HEARTBEAT_S = 2.0


@dataclass
class RunResult:
    """What a run did: where it is, per-step counts, and the final dataset's digest."""

    run_dir: Path
    steps: list[dict[str, Any]] = field(default_factory=list)
    dataset_rows: int = 0
    dataset_digest: str = ""

    @property
    def did_work(self) -> bool:
        return any(s["status"] != "skipped" for s in self.steps)


def check_columns(steps: list[Step], ctx_for: Any) -> None:
    """Check, before anything runs, that each step's input columns exist at that point (over
    the graph: a step reading several steps has the columns they all have)."""
    cols: dict[str, set[str] | None] = {}  # step name -> its records' columns (None: unknown)
    for i, (step, names) in enumerate(zip(steps, step_inputs(steps), strict=True)):
        if isinstance(step, SourceStep):
            if i != 0:
                raise ConfigError(
                    f"steps[{i}] ({step.instance_name}) is a source step; it must come first",
                    hint="a pipeline starts with one read step",
                )
            peek = getattr(step, "peek_columns", None)
            got = peek(ctx_for(step)) if peek is not None else None
            cols[step.instance_name] = None if got is None else (got | step.output_columns())
            continue
        if i == 0:
            raise ConfigError(
                f"the first step ({step.instance_name}) is a {step.kind} step; a pipeline starts with a source",
                hint="add `- read: {path: ...}` first",
            )
        ins = [cols[n] for n in names]
        available = None if any(c is None for c in ins) else set.intersection(*[c for c in ins if c is not None])
        # files named relative to the pipeline (a template_file) are parsed from there
        resolved = step.with_resolved_files(ctx_for(step).base_dir)
        need = resolved.input_columns()
        if available is not None and not need <= available:
            missing = ", ".join(sorted(need - available))
            raise ConfigError(
                f"step {step.instance_name} reads column(s) {missing}, but the records at that point have: "
                f"{', '.join(sorted(available)) or 'none'}",
                hint="map a column on the read step (text_field: or rename:), or fix the step's field names",
            )
        removed = step.removed_columns()
        cols[step.instance_name] = (None if available is None else
                                    (set() if "*" in removed else available - removed) | resolved.output_columns())


class Runner:
    """Runs one pipeline into one run directory. Use :meth:`Pipeline.run`."""

    def __init__(
        self,
        config: PipelineConfig,
        run_dir: str | Path,
        *,
        base_dir: Path | None = None,
        progress: Progress | None = None,
        resource_options: dict[str, Any] | None = None,
        redo_from: str | None = None,
        fresh: bool = False,
    ) -> None:
        self.config = config
        self.run = RunDir(run_dir)
        self.base_dir = base_dir or Path.cwd()
        self.progress = progress or Progress()
        self.steps = build_steps(config)
        self.resource_options = resource_options or {}
        self.redo_from = redo_from
        self.fresh = fresh
        self._warnings: list[str] = []
        if redo_from is not None:
            self._redo_index()  # an unknown step name fails before anything runs
        self._usage: dict[str, ByClient] = {}  # step -> LLM usage per client, over all its attempts

    def _ctx(self, step: Step, run_id: str, resources: RunResources | None, step_dir: Path | None) -> StepContext:
        return StepContext(
            step_name=step.instance_name,
            run_id=run_id,
            base_dir=self.base_dir,
            step_dir=step_dir,
            resources=resources,
            seed=self.config.seed,
            batch_size=self.config.batch_size,
        )

    def check(self) -> None:
        check_columns(self.steps, lambda s: self._ctx(s, "check", None, None))

    def execute(self) -> RunResult:
        self.check()
        with self.run.lock():
            if not self.fresh:
                self._warnings = self._cache_losses()
            self._reset()
            return asyncio.run(self._execute())

    def _cache_losses(self) -> list[str]:
        """Warn when the response cache holds fewer answers of a model than earlier attempts
        at this run received (their usage files say how many): answers were lost (a deleted
        ``-wal`` file, a restored backup) and the missing ones will be asked (and paid) again."""
        import sqlite3

        from tether.llm.cache import entries_by_model
        from tether.pipeline.usage import UNREADABLE

        cache = self.run.cache
        if not self.run.root.exists() or not cache.exists():
            return []
        received: dict[str, int] = {}
        for _name, store in self.run.step_stores():
            for attempt in read_attempts(store):
                for client, u in attempt.items():
                    llm = self.config.llm.get(client)
                    if client == UNREADABLE or llm is None or not llm.cache:
                        continue
                    model, calls = u.get("model"), u.get("calls")
                    if isinstance(model, str) and isinstance(calls, int):
                        received[model] = received.get(model, 0) + calls
        if not received:
            return []
        try:
            held = entries_by_model(cache)
        except sqlite3.DatabaseError:
            return []  # a broken cache is reported, as one line, when the run opens it
        lines = []
        for model, n in sorted(received.items()):
            missing = n - int(held.get(model, 0))
            if missing > 0:
                line = (f"the LLM response cache {cache.name} holds {held.get(model, 0)} answers of {model}, but earlier "
                        f"attempts at this run received {n}: {missing} were lost (a deleted {cache.name}-wal file?) "
                        "and will be asked, and paid for, again")
                log.warning("%s", line)
                lines.append(line)
        return lines

    def _redo_index(self) -> int:
        names = [s.instance_name for s in self.steps]
        if self.redo_from not in names:
            raise ConfigError(
                f"--from {self.redo_from}: the pipeline has no step of that name (its steps: {', '.join(names)})",
                hint="name a step as `tether inspect RUN_DIR` lists it",
            )
        return names.index(self.redo_from)

    def _reset(self) -> None:
        """``redo_from``: forget the named step's output and every later one's (their cached
        LLM answers stay, so only requests that failed are asked again). ``fresh``: forget every
        step and set the LLM response cache aside, so every request is asked again."""
        import shutil

        if not (self.fresh or self.redo_from is not None) or not self.run.root.exists():
            return
        start = 0 if self.fresh else self._redo_index()
        for i, step in enumerate(self.steps):
            path = self.run.step_dir(i, step.instance_name)
            if i >= start and path.exists():
                shutil.rmtree(path)
        self.run.update_outputs(export=None)
        if self.fresh and self.run.cache.exists():
            aside = self.run.cache.with_name(f"cache.{time.strftime('%Y%m%dT%H%M%S')}.sqlite")
            for suffix in ("", "-wal", "-shm"):  # the WAL goes with its database, or answers are lost
                src = Path(str(self.run.cache) + suffix)
                if src.exists():
                    src.replace(Path(str(aside) + suffix))
            log.info("--fresh: the LLM response cache was set aside as %s; every request is asked again", aside.name)
        what = "every step" if self.fresh else f"step {self.steps[start].instance_name} and every step after it"
        log.info("%s: redoing %s", "--fresh" if self.fresh else f"--from {self.redo_from}", what)

    async def _execute(self) -> RunResult:
        from tether._version import __version__

        run = self.run
        run.root.mkdir(parents=True, exist_ok=True)
        cfg_dump = self.config.model_dump(mode="json")
        atomic_write_text(run.config, yaml.safe_dump(cfg_dump, sort_keys=False, allow_unicode=True))
        run_id = self._run_id()
        manifest = Manifest.open(run, name=self.config.name, run_id=run_id, config_digest=digest(cfg_dump))
        manifest.data["base_dir"] = str(self.base_dir)  # where relative config paths resolve (rerun)
        if self._warnings:
            manifest.data["warnings"] = list(self._warnings)
        resources = RunResources(
            self.config.llm, self.config.embedder, cache_path=run.cache,
            options={"base_dir": self.base_dir, **self.resource_options},
        )
        self._drop_stale_steps()
        result = RunResult(run_dir=run.root)
        failure: BaseException | None = None
        prev_fp = digest({"tether": __version__})
        prev_store: StepStore | None = None
        inputs = step_inputs(self.steps)
        done: dict[str, tuple[str, StepStore]] = {}  # step name -> (fingerprint, store)
        try:
            for i, step in enumerate(self.steps):
                store = run.store(i, step.instance_name)
                ctx = self._ctx(step, run_id, resources, store.path)
                extra = step.fingerprint_extra(ctx)
                if isinstance(step, SourceStep) and extra:
                    manifest.data["inputs"].extend(
                        {"step": step.instance_name, "path": k, "sha256": v} for k, v in extra.items()
                    )
                source: StepStore | _Inputs | None = prev_store
                if step.inputs is not None:  # named inputs: their outputs, in that order
                    prev_fp = digest({"inputs": [done[n][0] for n in inputs[i]]})
                    source = _Inputs([done[n][1] for n in inputs[i]])
                fp = digest({"prev": prev_fp, "step": step.type, "config": step.model_dump(mode="json"), "extra": extra,
                             "version": __version__})
                info = await self._run_step(i, step, store, source, fp, ctx)
                manifest.add_step(info)
                result.steps.append(info)
                _check_min_keep(step, store, info["counts"])
                prev_fp, prev_store = fp, store
                done[step.instance_name] = (fp, store)
            assert prev_store is not None
            result.dataset_rows, result.dataset_digest = self._export(prev_store, prev_fp)
            manifest.data["dataset"] = {
                "rows": result.dataset_rows,
                "digest": result.dataset_digest,
                "formats": self.config.export.formats,
            }
            manifest.data["llm"] = self._llm_usage(resources, manifest)
            manifest.data["status"] = "done"
            self._post_run(manifest)
            from tether.pipeline.hooks import WITHHELD

            if (run.root / WITHHELD).exists():  # an earlier run's failed dataset: this one passed
                import shutil

                shutil.rmtree(run.root / WITHHELD)
        except BaseException as exc:
            failure = exc
            # Ctrl-C reaches the run as the cancellation of its task (asyncio.run's SIGINT handler)
            stopped = isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))
            manifest.data["status"] = "interrupted" if stopped else "failed"
            manifest.data["error"] = type(exc).__name__
            try:
                manifest.data["llm"] = self._llm_usage(resources, manifest)
            except (OSError, TetherError) as usage_exc:  # the first error is the one to report
                log.warning("the manifest's LLM usage could not be gathered: %s", usage_exc)
            raise
        finally:
            manifest.data["finished_at"] = time.time()
            try:
                manifest.save()
            except (OSError, TetherError) as save_exc:
                if failure is None:
                    raise
                # a full disk fails the manifest too: report the first error, not this one
                log.warning("the manifest could not be saved: %s", getattr(save_exc, "message", save_exc))
            await resources.aclose()
            self.progress.close()
        return result

    def _run_id(self) -> str:
        if self.run.manifest.exists():
            try:
                return str(self.run.read_manifest()["run_id"])
            except (KeyError, ValueError, InputError):
                pass
        return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]

    def _drop_stale_steps(self) -> None:
        import shutil

        wanted = {self.run.step_dir(i, s.instance_name).name for i, s in enumerate(self.steps)}
        for _name, store in self.run.step_stores():
            if store.path.name not in wanted:
                shutil.rmtree(store.path)

    async def _run_step(
        self, i: int, step: Step, store: StepStore, prev: StepStore | _Inputs | None, fp: str, ctx: StepContext
    ) -> dict[str, Any]:
        base = {"index": i, "name": step.instance_name, "type": step.type, "kind": step.kind, "fingerprint": fp}
        if store.is_done(fp):
            done = store.success() or {}
            counts = done.get("counts", store.counts())
            self.progress.step_skipped(i, step.instance_name, counts)
            usage = done.get("llm_usage_by_client") or {}
            self._usage[step.instance_name] = usage
            return {**base, "status": "skipped", "counts": counts, "seconds": done.get("seconds", 0.0),
                    "stats": done.get("stats", {}), **self._usage_fields(usage, done.get("llm_attempts"))}
        resumed = store.prepare(fp)
        attempt = AttemptUsage(store, ctx.resources, step.instance_name)
        t0 = time.monotonic()
        total = prev.counts()["out"] if prev is not None else None
        self.progress.step_started(i, step.instance_name, step.kind, total)
        step.setup(ctx)
        flusher = asyncio.ensure_future(attempt.flush_periodically())
        beat = asyncio.ensure_future(self._heartbeat())
        try:
            if isinstance(step, SourceStep):
                for bi, outcome in enumerate(step.read(ctx)):
                    n = len(outcome.kept) + len(outcome.rejected) + len(outcome.quarantined)
                    if not store.has(bi):
                        store.commit(bi, outcome, step.instance_name, n)
                        attempt.flush()
                    self.progress.advance(n)
            elif isinstance(step, _RecordStep):
                assert prev is not None
                await self._record_batches(step, prev, store, ctx, attempt)
            elif isinstance(step, GlobalStep):
                assert prev is not None
                if not store.has(0):
                    records = list(prev.iter_records())
                    outcome = await step.aprocess(records, ctx)
                    store.commit(0, outcome, step.instance_name, len(records))
                    attempt.flush()
                self.progress.advance(store.counts()["in"])
            else:
                raise ConfigError(f"step {step.instance_name} has an unknown kind '{step.kind}'")
        finally:
            step.teardown()
            beat.cancel()
            flusher.cancel()
            attempt.flush()
            attempts = read_attempts(store)
            self._usage[step.instance_name] = add_usage(attempts)
        seconds = time.monotonic() - t0
        counts = store.counts()
        stats = {k: v for k, v in ctx.stats.items() if not k.startswith("_")}
        usage = self._usage[step.instance_name]
        fields = self._usage_fields(usage, [flat_usage(a) or {} for a in attempts])
        store.finish({"fingerprint": fp, "counts": counts, "seconds": seconds, "stats": stats,
                      "llm_usage_by_client": usage, "llm_attempts": fields.get("llm_attempts", [])})
        status = "resumed" if resumed else "ran"
        self.progress.step_finished(step.instance_name, status, counts, seconds)
        info = {**base, "status": status, "counts": counts, "seconds": seconds, "stats": stats, **fields}
        if counts.get("in", 0) > 0 and counts.get("out", 0) == 0:
            info["warning"] = _kept_nothing(step.instance_name, store, counts)
        return info

    async def _record_batches(
        self, step: _RecordStep, prev: StepStore | _Inputs, store: StepStore, ctx: StepContext, attempt: AttemptUsage
    ) -> None:
        """A map or filter step over the previous step's records, batch by batch, each batch
        committed as it completes (in any order: a batch's index is its place in the output).
        Up to ``BATCHES_IN_FLIGHT`` batches run at once when the step allows it, so the LLM's
        slots stay full across batch boundaries. Progress counts records as they finish."""
        window = BATCHES_IN_FLIGHT if step.batches_may_overlap() else 1
        pending: set[asyncio.Task[None]] = set()

        async def one(bi: int, batch: list[Record]) -> None:
            done = 0

            def tick() -> None:
                nonlocal done
                done += 1
                self.progress.advance(1)

            record_done.set(tick)  # this task's own context: its records report here
            outcome = await step.run_batch(batch, ctx)
            record_done.set(None)
            store.commit(bi, outcome, step.instance_name, len(batch))
            attempt.flush()
            self.progress.advance(len(batch) - done)

        async def settle(block: bool) -> None:
            nonlocal pending
            if not pending:
                return
            finished, pending = await asyncio.wait(
                pending, return_when=asyncio.FIRST_COMPLETED if block else asyncio.ALL_COMPLETED
            )
            errors = [e for t in finished if (e := t.exception()) is not None]  # each one retrieved
            if errors:
                raise errors[0]  # a batch that raised stops the step (the others are cancelled below)

        try:
            for bi, batch in enumerate(_batches(prev.iter_records(), ctx.batch_size)):
                if store.has(bi):
                    self.progress.advance(len(batch))
                    continue
                while len(pending) >= window:
                    await settle(block=True)
                pending.add(asyncio.ensure_future(one(bi, batch)))
            await settle(block=False)
        finally:
            for t in pending:
                t.cancel()
            if pending:  # batches already committed stay; the rest are redone on resume
                await asyncio.gather(*pending, return_exceptions=True)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self.progress.heartbeat()

    @staticmethod
    def _usage_fields(usage: ByClient, attempts: list[dict[str, Any]] | None) -> dict[str, Any]:
        """A step's manifest fields for LLM usage: the total over its attempts and, when it
        took more than one, each attempt's."""
        fields: dict[str, Any] = {"llm_usage": flat_usage(usage)}
        if attempts and len(attempts) > 1:
            fields["llm_attempts"] = attempts
        return fields

    def _llm_usage(self, resources: RunResources, manifest: Manifest) -> dict[str, Any]:
        return manifest_llm(self._usage, resources.usage(), manifest.prior.get("llm") or {})

    def _export(self, last: StepStore, last_fp: str) -> tuple[int, str]:
        """Write ``dataset/``; returns its rows and digest. Skipped when the last step and the
        export options are unchanged since the files there were written."""
        from tether._version import __version__

        out = self.run.dataset
        fp = digest({"last": last_fp, "export": self.config.export.model_dump(mode="json"), "version": __version__})
        prior = self.run.read_outputs().get("export") or {}
        files = prior.get("files") or []
        if prior.get("fingerprint") == fp and files and all((out / f).exists() for f in files):
            log.info("export: dataset/ is up to date")
            return int(prior["rows"]), str(prior["digest"])
        self.run.update_outputs(export=None)
        table = last.table()
        if not self.config.export.keep_lineage and LINEAGE in table.column_names:
            table = table.drop_columns([LINEAGE])
        out.mkdir(parents=True, exist_ok=True)
        for fmt in self.config.export.formats:
            if fmt == "parquet":
                write_parquet(table, out / "data.parquet")
            elif fmt == "jsonl":
                write_jsonl(table, out / "data.jsonl")
            else:
                from tether.pipeline.hooks import export_format

                export_format(fmt, table, out)
        rows, table_dig = table.num_rows, table_digest(table)
        written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        self.run.update_outputs(export={"fingerprint": fp, "rows": rows, "digest": table_dig, "files": written})
        return rows, table_dig

    def _post_run(self, manifest: Manifest) -> None:
        from tether.pipeline.hooks import after_run

        after_run(self.config, self.run, manifest, self.base_dir)


class _Inputs:
    """The outputs of the steps a step names in ``from:``, read one after the other."""

    def __init__(self, stores: list[StepStore]) -> None:
        self.stores = stores

    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for store in self.stores:
            for k, v in store.counts().items():
                total[k] = total.get(k, 0) + v
        return total

    def iter_records(self) -> Iterator[Record]:
        for store in self.stores:
            yield from store.iter_records()


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for r in records:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_in_memory(steps: list[Step], records: list[Record] | None = None, *, seed: int = 0) -> Outcome:
    """Run steps over records without a run directory (for notebooks and tests).

    Returns the last step's outcome with rejected and quarantined records of every step.
    """

    async def go() -> Outcome:
        total = Outcome()
        current = list(records or [])
        for step in steps:
            ctx = StepContext(step_name=step.instance_name, seed=seed)
            step.setup(ctx)
            try:
                out = await step.run_all(current, ctx)  # each kind says how it runs over a whole input
            finally:
                step.teardown()
            total.rejected.extend(out.rejected)
            total.quarantined.extend(out.quarantined)
            current = out.kept
        total.kept = current
        return total

    return asyncio.run(go())



def _top_reasons(store: Any) -> str:
    """The three most common rejection reasons and quarantine error types of a step."""
    from collections import Counter

    from tether.core.rundir import QUARANTINE, REJECTED

    reasons: Counter[str] = Counter()
    for kind, col in ((REJECTED, "reject_reason"), (QUARANTINE, "error_type")):
        for table in store.iter_tables(kind):
            if col in table.column_names:
                reasons.update(str(v)[:80] for v in table.column(col).to_pylist())
    return ", ".join(f"{r} ({n})" for r, n in reasons.most_common(3)) or "none recorded"


def _kept_nothing(name: str, store: Any, counts: dict[str, int]) -> str:
    """Warn (and return the line) that a step kept none of its records, with its top reasons:
    a pipeline that rejects everything should not look like a run that went well."""
    line = (f"step {name} kept none of its {counts.get('in', 0)} records (rejected {counts.get('rejected', 0)}, "
            f"quarantined {counts.get('quarantined', 0)}); top reasons: {_top_reasons(store)}")
    log.warning("%s", line)
    return line


def _check_min_keep(step: Step, store: Any, counts: dict[str, int]) -> None:
    """Stop the run when a step with ``min_keep`` kept too small a share (also when the step
    was up to date: a rerun must not walk past it)."""
    from tether.errors import StepError

    n_in, n_out = counts.get("in", 0), counts.get("out", 0)
    if step.min_keep is None or n_in == 0 or n_out / n_in >= step.min_keep:
        return
    raise StepError(
        f"kept {n_out} of {n_in} records ({n_out / n_in:.1%}), below min_keep {step.min_keep:g}; "
        f"top reasons: {_top_reasons(store)}",
        step=step.instance_name,
        hint=f"look at the step's rejected records (tether inspect), fix the cause, then rerun with "
             f"--from {step.instance_name}",
        exit_code=5,
    )

__all__ = ["RunResult", "Runner", "check_columns", "run_in_memory"]
