"""Benchmark decontamination: 13-gram overlap (lowercased, punctuation stripped) against
benchmark files the user supplies, plus optional embedding similarity for paraphrases.

Example:
    >>> idx = NgramIndex.build({"q1": "one two three four five six"}, n=5)
    >>> idx.hits("zero one two three four five seven")
    {'q1': 1}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from tether.core.registry import register
from tether.core.step import Verdict
from tether.curate._private import TextFilter, read_external
from tether.records import Record
from tether.text import normalize

if TYPE_CHECKING:
    from tether.core.context import StepContext

log = logging.getLogger(__name__)


class NgramIndex:
    """Word n-grams of benchmark items -> the items holding them.

    Items shorter than ``n`` words are indexed whole (a text matches when it contains the
    item's full word sequence).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.grams: dict[tuple[str, ...], set[str]] = {}
        self.short_lengths: set[int] = set()

    @classmethod
    def build(cls, items: Mapping[str, str], n: int = 13) -> NgramIndex:
        idx = cls(n)
        for key, text in items.items():
            toks = normalize(text).split()
            if not toks:
                continue
            if len(toks) < n:
                idx.grams.setdefault(tuple(toks), set()).add(key)
                idx.short_lengths.add(len(toks))
                continue
            for i in range(len(toks) - n + 1):
                idx.grams.setdefault(tuple(toks[i : i + n]), set()).add(key)
        return idx

    def hits(self, text: str) -> dict[str, int]:
        """Benchmark item -> number of its n-grams found in ``text``."""
        toks = normalize(text).split()
        out: dict[str, int] = {}
        for length in (self.n, *sorted(self.short_lengths)):
            for i in range(len(toks) - length + 1):
                for key in self.grams.get(tuple(toks[i : i + length]), ()):
                    out[key] = out.get(key, 0) + 1
        return out


def ngram_overlap_hits(texts: Sequence[str], benchmark: Mapping[str, str], n: int = 13) -> list[dict[str, int]]:
    """For each text, the benchmark items (by key) sharing at least one word ``n``-gram,
    with the number of shared n-grams."""
    idx = NgramIndex.build(benchmark, n)
    return [idx.hits(t) for t in texts]


class BenchmarkSpec(BaseModel):
    """One benchmark file to decontaminate against."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """The name hits are reported under."""
    path: str
    """A JSONL / JSON / Parquet / CSV file (or folder) of benchmark items."""
    fields: list[str] = Field(default_factory=lambda: ["question"])
    """The item's columns compared (e.g. question, prompt, answer)."""


@register
class Decontaminate(TextFilter):
    """Reject records that overlap benchmark items (13-grams, or embedding paraphrases)."""

    type: ClassVar[str] = "decontaminate"
    description: ClassVar[str] = (
        "Reject records sharing a word 13-gram with a benchmark item (or, with embedding: true, "
        "too similar to one) (contaminated); hits are reported per benchmark."
    )

    benchmarks: list[BenchmarkSpec] = Field(min_length=1)
    """Benchmark files: [{name, path, fields}]."""
    ngram: int = Field(13, ge=1)
    """n of the word n-gram overlap (13 as in GPT-3's decontamination)."""
    min_hits: int = Field(1, ge=1)
    """Shared n-grams with one item needed to call a record contaminated."""
    embedding: bool = False
    """Also compare embeddings (the run's embedder) to catch paraphrases."""
    embedding_threshold: float = Field(0.9, gt=0, le=1)
    """Cosine similarity at or above which a record is a paraphrase of a benchmark item."""

    _index: NgramIndex | None = PrivateAttr(default=None)
    _items: list[tuple[str, str, str]] = PrivateAttr(default_factory=list)  # (bench, id, text)
    _bench_vecs: Any = PrivateAttr(default=None)
    _bench_of: dict[str, str] = PrivateAttr(default_factory=dict)

    def output_columns(self) -> set[str]:
        return {self.col("score"), self.col("benchmark"), self.col("match"), self.col("method"), self.col("benchmarks")}

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        from tether.io._private import file_sha256

        return {b.name: file_sha256(ctx.resolve(b.path)) for b in self.benchmarks if ctx.resolve(b.path).is_file()}

    def setup(self, ctx: StepContext) -> None:
        names = [b.name for b in self.benchmarks]
        ctx.require(len(set(names)) == len(names), "benchmark names must be unique")
        self._items = []
        for b in self.benchmarks:
            pairs = read_external([b.path], b.fields, ctx.resolve, f"decontaminate.benchmarks[{b.name}]")
            self._items.extend((b.name, f"{b.name}/{rid}", text) for rid, text in pairs)
        self._index = NgramIndex.build({key: text for _, key, text in self._items}, self.ngram)
        self._bench_of = {key: name for name, key, _ in self._items}
        if self.embedding:
            self._bench_vecs = np.asarray(ctx.embedder().encode([t for _, _, t in self._items]), dtype=np.float32)
        # per benchmark: records matching it by n-grams, by embedding, and by either (a record
        # matching several benchmarks counts under each)
        ctx.stats.setdefault("hits", {n: {"ngram": 0, "embedding": 0, "records": 0} for n in names})
        ctx.stats["benchmark_items"] = {n: sum(1 for b, _, _ in self._items if b == n) for n in names}

    def keep_batch(self, records: Sequence[Record], ctx: StepContext) -> list[Verdict]:
        """The batch's embeddings in one call (when ``embedding``), then each record's verdict."""
        vecs: list[Any] = [None] * len(records)
        if self.embedding and records:
            vecs = list(np.asarray(ctx.embedder().encode([self.text(r) for r in records]), dtype=np.float32))
        return [self._decide(r, vec, ctx) for r, vec in zip(records, vecs, strict=True)]

    def _decide(self, record: Record, vec: Any, ctx: StepContext) -> Verdict:
        """Every benchmark the record matches is counted, by each method that matches it;
        the verdict names the strongest match (n-gram before embedding)."""
        assert self._index is not None, "setup() was not called"
        hits = self._index.hits(self.text(record))
        hits = {k: v for k, v in hits.items() if v >= self.min_hits}
        by_ngram: dict[str, str] = {}  # benchmark -> its item with the most shared n-grams
        for key in sorted(hits, key=lambda k: (-hits[k], k)):
            by_ngram.setdefault(self._bench_of[key], key)
        by_emb: dict[str, tuple[str, float]] = {}  # benchmark -> (its most similar item, cosine)
        best = None
        if self.embedding and self._bench_vecs is not None and len(self._bench_vecs) and vec is not None:
            sims = self._bench_vecs @ vec
            best = float(sims.max())
            over = np.flatnonzero(sims >= self.embedding_threshold)
            for j in over[np.argsort(-sims[over], kind="stable")]:
                bench, key, _ = self._items[int(j)]
                by_emb.setdefault(bench, (key, float(sims[j])))
        matched = sorted(set(by_ngram) | set(by_emb))
        stats = ctx.stats["hits"]
        for bench in by_ngram:
            stats[bench]["ngram"] += 1
        for bench in by_emb:
            stats[bench]["embedding"] += 1
        for bench in matched:
            stats[bench]["records"] += 1
        if by_ngram:
            key = max(sorted(hits), key=lambda k: hits[k])
            return Verdict(False, "contaminated", float(hits[key]), {"benchmark": self._bench_of[key], "match": key,
                                                                     "method": "ngram", "benchmarks": matched})
        if by_emb:
            bench = max(sorted(by_emb), key=lambda b: by_emb[b][1])
            key, sim = by_emb[bench]
            return Verdict(False, "contaminated", sim, {"benchmark": bench, "match": key, "method": "embedding",
                                                        "benchmarks": matched})
        return Verdict(True, "", best if best is not None else 0.0,
                       {"benchmark": None, "match": None, "method": None, "benchmarks": []})


__all__ = ["BenchmarkSpec", "Decontaminate", "NgramIndex", "ngram_overlap_hits"]
