"""Running an audit's families on several cores.

Most of an audit's time is single-threaded Python and scikit-learn (tokenising, counting,
fitting), so on a machine with two or more cores the families are split into groups of
about equal cost: the first group runs in this process, each other one in a fresh Python
process (``python -m tether.audit._worker``). A worker gets the audit data, embeddings
included, pickled on its standard input and sends its results back on its standard output:
nothing is written to disk, private records included. Embeddings are computed before the
split, so no text is embedded twice. Each process gets its share of the cores for BLAS and
OpenMP threads. The report is the same as a run in one process (tested).
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import IO, Any

from tether.audit.base import MetricResult
from tether.audit.dataset import AuditData

log = logging.getLogger(__name__)

#: Seconds each family took in benchmarks/audit.py (10k vs 10k records, embeddings cached,
#: 2 cores, one process, imports left out), on the machine of its first measurement (later
#: re-measured ones scaled to it): the weights the groups are balanced by.
COST = {"fidelity": 13.0, "diversity": 7.2, "bias": 4.6, "contamination": 2.2, "privacy": 1.9, "utility": 1.9,
        "quality": 1.9, "integrity": 0.5}

#: Below this many synthetic plus reference records one process is faster: starting a worker
#: and importing scikit-learn in it costs a few seconds.
MIN_RECORDS = 5000

Runner = Callable[[AuditData], list[MetricResult]]


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_workers(data: AuditData) -> int:
    """2 on a machine with two or more cores when the audit is big enough to gain, else 1."""
    n = len(data.synthetic) + (len(data.reference) if data.reference is not None else 0)
    return 2 if cores() >= 2 and n >= MIN_RECORDS else 1


#: Seconds this process spends importing what the families need (scikit-learn, SciPy) while
#: a worker has them imported already (``PRELOAD``): the head start the workers get.
IMPORT_COST = 4.0


def plan(names: Sequence[str], workers: int) -> list[list[str]]:
    """Split ``names`` into at most ``workers`` groups of about equal cost (longest first,
    each to the least loaded group; the first group, run in this process, starts loaded
    with ``IMPORT_COST``), keeping the families' order within a group."""
    groups: list[list[str]] = [[] for _ in range(max(1, workers))]
    load = [IMPORT_COST] + [0.0] * (len(groups) - 1)
    for name in sorted(names, key=lambda n: -COST.get(n, 1.0)):
        i = load.index(min(load))
        groups[i].append(name)
        load[i] += COST.get(name, 1.0)
    order = {n: i for i, n in enumerate(names)}
    if not groups[0]:  # everything went to workers: run the smallest group here instead
        groups = [groups[-1], *groups[:-1]]
    return [sorted(g, key=order.__getitem__) for g in groups if g]


def run_group(data: AuditData, names: Sequence[str], runners: dict[str, Runner]) -> tuple[
        dict[str, list[MetricResult]], dict[str, float]]:
    """Run the families ``names`` one after the other; their results and seconds."""
    results: dict[str, list[MetricResult]] = {}
    seconds: dict[str, float] = {}
    for name in names:
        t = time.time()
        results[name] = runners[name](data)
        seconds[name] = round(time.time() - t, 3)
        log.info("audit: %s done in %.1fs", name, seconds[name])
    return results, seconds


def embed_ahead(data: AuditData, names: Sequence[str]) -> None:
    """Embed every corpus the families ``names`` embed, before they are split up."""
    want = []
    if {"diversity", "fidelity", "contamination"} & set(names) or ("privacy" in names and data.holdout is not None):
        want.append(data.synthetic)
    if {"diversity", "fidelity"} & set(names) and data.reference is not None:
        want.append(data.reference)
    if "privacy" in names:
        want += [c for c in (data.private, data.holdout) if c is not None]
    if "contamination" in names:
        want += list(data.benchmarks.values())
    for corpus in want:
        data.emb(corpus)


#: What the families import when they first run, imported by a worker while this process
#: still reads the data and embeddings (scikit-learn alone takes about 4 s on 2 cores).
PRELOAD = ("sklearn.feature_extraction.text", "sklearn.linear_model", "sklearn.model_selection", "sklearn.metrics",
           "sklearn.cluster", "sklearn.decomposition", "scipy.stats", "scipy.spatial.distance", "faiss",
           "vendi_score.vendi", "tether.curate.minhash")


class Worker:
    """A worker process for a group of families: started (and importing) first, given the
    audit data later with :meth:`send`, then asked for its :meth:`result`."""

    def __init__(self, names: list[str], threads: int) -> None:
        self.names = names
        env = dict(os.environ)
        env.update({v: str(threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
        # the same tether and libraries as this process, wherever they were imported from
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen([sys.executable, "-m", "tether.audit._worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self._feed: threading.Thread | None = None

    def send(self, data: AuditData) -> None:
        payload = pickle.dumps((data, self.names), protocol=pickle.HIGHEST_PROTOCOL)
        self._feed = threading.Thread(target=self._write, args=(self.proc.stdin, payload), daemon=True)
        self._feed.start()

    @staticmethod
    def _write(pipe: IO[bytes] | None, payload: bytes) -> None:
        assert pipe is not None
        try:
            pipe.write(payload)
            pipe.close()
        except BrokenPipeError:  # the worker died; its exit status says so
            pass

    def result(self) -> tuple[dict[str, list[MetricResult]], dict[str, float], dict[str, Any]]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        rc = self.proc.wait()
        if self._feed is not None:
            self._feed.join()
        if rc != 0 or not out:
            raise RuntimeError(f"the audit worker for {', '.join(self.names)} exited with status {rc}"
                               " (its error is above)")
        reply = pickle.loads(out)
        if reply[0] == "error":
            exc, where = reply[1], reply[2]
            exc.add_note(f"in the audit worker for {', '.join(self.names)}:\n{where}")
            raise exc
        return reply[1], reply[2], reply[3]

    def close(self) -> None:
        """Stop the worker if it is still running (after an error here, or an unused one)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                with suppress(BrokenPipeError):
                    pipe.close()


def run_families(data: AuditData, names: Sequence[str], runners: dict[str, Runner], workers: int) -> tuple[
        dict[str, list[MetricResult]], dict[str, float]]:
    """Run the families ``names`` over ``workers`` processes (this one included). The workers
    are started first, so they import what the families need while this process embeds."""
    groups = plan(names, workers)
    if len(groups) < 2:
        return run_group(data, names, runners)
    threads = max(1, cores() // len(groups))
    others = [Worker(g, threads) for g in groups[1:]]
    try:
        embed_ahead(data, names)
        log.info("audit: families in %d processes: %s", len(groups), " | ".join(", ".join(g) for g in groups))
        for w in others:
            w.send(data)
        from threadpoolctl import threadpool_limits  # scikit-learn's, a direct dependency of tether

        with threadpool_limits(limits=threads):
            results, seconds = run_group(data, groups[0], runners)
        for w in others:
            res, sec, plots = w.result()
            results.update(res)
            seconds.update(sec)
            data.plots.update(plots)
        return results, seconds
    finally:
        for w in others:
            w.close()


def _worker_main() -> None:
    """The worker: audit data in on stdin, ``("ok", results, seconds, plots)`` or
    ``("error", exception, traceback)`` out on stdout."""
    import importlib

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the reply
    from tether.audit.runner import load_families

    runners = load_families()
    for mod in PRELOAD:
        with suppress(ImportError):  # a family that needs it says so when it runs
            importlib.import_module(mod)
    try:
        data, names = pickle.load(sys.stdin.buffer)
    except EOFError:  # not needed after all (the audit stopped before its families ran)
        return
    try:
        results, seconds = run_group(data, names, runners)
        reply: tuple[Any, ...] = ("ok", results, seconds, data.plots)
    except Exception as exc:  # sent back and raised in the parent
        reply = ("error", exc, traceback.format_exc())
    try:
        blob = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an exception that does not pickle: its text is enough
        blob = pickle.dumps(("error", RuntimeError(repr(reply[1])), reply[2] if reply[0] == "error" else ""))
    out.write(blob)
    out.close()


__all__ = ["COST", "IMPORT_COST", "MIN_RECORDS", "PRELOAD", "Worker", "cores", "default_workers", "embed_ahead", "plan",
           "run_families", "run_group"]
