"""The ``dedup`` step: exact (normalised hash), near (MinHash LSH) and semantic (embeddings).

MinHash candidates come from recall-leaning LSH bands and are checked with the exact Jaccard
of their shingles, so ``dedup__score`` is the exact similarity of a record's best pair and no
pair below the threshold is removed (through a chain of pairs at or above it, a cluster can
hold members less similar than that).

Duplicates are grouped in clusters; one member per cluster is kept by the ``keep`` rule and
the others are rejected with reason ``duplicate`` / ``near_duplicate`` /
``semantic_duplicate``, naming the kept member (``dup_of``) and the cluster. With
``against:`` the records are also checked against an external set (a private source, an
earlier run's folder); a record matching it is rejected with ``dup_of`` naming the external
item, and external items are never output.

Example (YAML)::

    - dedup: {method: minhash, fields: [instruction, response], threshold: 0.8, ngram: 5}
    - dedup: {method: semantic, threshold: 0.92, against: [../runs/previous]}
    - dedup: {method: semantic, search: ann, k: 32}   # force the faiss index (auto: above 20,000 vectors)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from tether.core.registry import register
from tether.core.step import GlobalStep, Outcome, Verdict
from tether.curate._private import as_fields, field_text, read_external
from tether.records import ID, Record, digest
from tether.text import normalize

if TYPE_CHECKING:
    from tether.core.context import StepContext

log = logging.getLogger(__name__)

REASONS = {"exact": "duplicate", "minhash": "near_duplicate", "semantic": "semantic_duplicate"}
DEFAULT_THRESHOLD = {"exact": 1.0, "minhash": 0.8, "semantic": 0.95}


def exact_key(text: str) -> str:
    """The exact-dedup key: a hash of the normalised text (case, punctuation, spacing ignored)."""
    return digest(normalize(text), 32)


def exact_clusters(texts: list[str]) -> list[int]:
    """Cluster ids (first-appearance order) of texts equal after :func:`tether.text.normalize`."""
    seen: dict[str, int] = {}
    return [seen.setdefault(exact_key(t), len(seen)) for t in texts]


@register
class Dedup(GlobalStep):
    """Remove exact, near (MinHash LSH) or semantic (embedding) duplicates."""

    type: ClassVar[str] = "dedup"
    description: ClassVar[str] = "Remove exact, near (MinHash LSH) or semantic duplicates, in-set or against an external set."

    method: Literal["exact", "minhash", "semantic"] = "minhash"
    """exact: normalised-text hash; minhash: Jaccard of shingles via LSH; semantic: embedding cosine."""
    fields: str | list[str] = "text"
    """The column(s) compared; several are joined with a newline."""
    threshold: float | None = Field(None, gt=0, le=1)
    """minhash: Jaccard similarity (default 0.8); semantic: cosine (default 0.95); unused by exact."""
    num_perm: int = Field(128, ge=8, le=1024)
    """minhash: number of permutations."""
    ngram: int = Field(5, ge=1, le=64)
    """minhash: shingle size (words or characters)."""
    shingle: Literal["word", "char"] = "word"
    """minhash: shingle unit."""
    bands: int | None = Field(None, ge=1)
    """minhash: LSH bands; with rows, overrides the recall-leaning choice (a pair at threshold - 0.05
    becomes a candidate with probability >= 0.95)."""
    rows: int | None = Field(None, ge=1)
    """minhash: rows per band."""
    verify: bool = True
    """minhash: drop LSH candidates whose exact Jaccard of shingles is below the threshold (false: every
    candidate is a duplicate and the score is left empty)."""
    keep: Literal["first", "longest", "shortest", "highest"] = "first"
    """Which member of a cluster is kept: first seen, longest or shortest text, or highest keep_field."""
    keep_field: str | None = None
    """The numeric column ranked by keep: highest (e.g. a judge score)."""
    against: list[str] = Field(default_factory=list)
    """External sets to dedup against: files (JSONL, Parquet, CSV, ...) or earlier run folders."""
    against_fields: list[str] | None = None
    """Columns of the external set to compare (default: fields)."""
    search: Literal["exact", "ann", "auto"] = "auto"
    """semantic: exact (every pair, O(n^2)), ann (faiss IVF-Flat, k nearest each, verified by exact cosine: may
    miss a pair, never adds one) or auto (ann above 20,000 vectors searched, else exact)."""
    k: int = Field(32, ge=1, le=2048)
    """semantic, search ann: neighbours fetched per record (a record with more duplicates than k - 1 may keep some)."""
    nprobe: int = Field(16, ge=1, le=4096)
    """semantic, search ann: index cells searched per record (more: higher recall, slower)."""
    list_clusters: int = Field(1000, ge=0)
    """Duplicate clusters listed in the step's stats (``cluster_list``), largest first; 0 lists none."""
    list_members: int = Field(100, ge=1)
    """Member ids listed per cluster (``size`` always counts them all)."""

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: str | list[str]) -> str | list[str]:
        if not v:
            raise ValueError("give at least one field")
        return v

    @model_validator(mode="after")
    def _check(self) -> Dedup:
        if self.keep == "highest" and not self.keep_field:
            raise ValueError("keep: highest needs keep_field (the numeric column to rank by)")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        if self.bands and self.rows and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self

    def input_columns(self) -> set[str]:
        return set(as_fields(self.fields)) | ({self.keep_field} if self.keep_field else set())

    def output_columns(self) -> set[str]:
        return {self.col("score"), self.col("cluster"), self.col("dup_of")}

    @property
    def effective_threshold(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLD[self.method]

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        from tether.io._private import file_sha256

        out: dict[str, Any] = {}
        for p in self.against:
            path = ctx.resolve(p)
            if path.is_file():
                out[p] = file_sha256(path)
            elif (path / "dataset").is_dir():
                out[p] = {f.name: file_sha256(f) for f in sorted((path / "dataset").iterdir()) if f.is_file()}
        return out or None

    # ------------------------------------------------------------------ ranking
    def _priority(self, records: list[Record], texts: list[str]) -> np.ndarray:
        """Record indices, most preferred first."""
        n = len(records)
        idx = np.arange(n)
        if self.keep == "first":
            return idx
        if self.keep in ("longest", "shortest"):
            lens = np.array([len(t) for t in texts])
            return np.lexsort((idx, -lens if self.keep == "longest" else lens))
        vals = np.array([_num(r.get(self.keep_field or "")) for r in records], dtype=np.float64)
        vals = np.where(np.isnan(vals), -np.inf, vals)
        return np.lexsort((idx, -vals))

    # ------------------------------------------------------------------ matching
    def _match(self, texts: list[str], ext: list[str], ctx: StepContext) -> tuple[np.ndarray, np.ndarray]:
        """For texts in priority order preceded by ``ext``: (dup_of index or -1, score)."""
        allt = ext + texts
        n = len(allt)
        dup_of = np.full(n, -1, dtype=np.int64)
        score = np.full(n, np.nan, dtype=np.float32)
        if self.method == "semantic":
            from tether.curate.semantic import semantic_duplicates

            vecs = np.asarray(ctx.embedder().encode(allt), dtype=np.float32)
            if len(ext):
                vecs_ext, vecs_in = vecs[: len(ext)], vecs[len(ext) :]
                from tether.curate.semantic import similar_pairs

                i, j, s = similar_pairs(vecs_ext, self.effective_threshold, queries=vecs_in, search=self.search,
                                        k=self.k, nprobe=self.nprobe)
                nearest: dict[int, tuple[int, float]] = {}
                for a, b, c in zip(i.tolist(), j.tolist(), s.tolist(), strict=True):
                    if a not in nearest or c > nearest[a][1]:
                        nearest[a] = (b, c)
                internal = np.array([k for k in range(len(texts)) if k not in nearest], dtype=np.int64)
                for a, (b, c) in nearest.items():
                    dup_of[len(ext) + a], score[len(ext) + a] = b, c
                sub_dup, sub_score = semantic_duplicates(vecs_in[internal], self.effective_threshold,
                                                         search=self.search, k=self.k, nprobe=self.nprobe)
                for pos, k in enumerate(internal):
                    if sub_dup[pos] >= 0:
                        dup_of[len(ext) + k] = len(ext) + internal[sub_dup[pos]]
                    score[len(ext) + k] = sub_score[pos]
                return dup_of, score
            return semantic_duplicates(vecs, self.effective_threshold, search=self.search, k=self.k, nprobe=self.nprobe)
        if self.method == "exact":
            labels = np.array(exact_clusters(allt), dtype=np.int64)
            pair_score: dict[tuple[int, int], float] = {}
        else:
            from tether.curate.minhash import minhash_clusters_with_pairs

            labels, pair_score = minhash_clusters_with_pairs(
                allt, self.effective_threshold, self.num_perm, self.ngram, shingle=self.shingle,
                bands=self.bands, rows=self.rows, verify=self.verify,
            )
        first: dict[int, int] = {}
        for k, lab in enumerate(labels.tolist()):
            if lab in first:
                dup_of[k] = first[lab]
            else:
                first[lab] = k
        best = np.full(n, np.nan, dtype=np.float32)
        for (a, b), sim in pair_score.items():
            best[a] = sim if np.isnan(best[a]) else max(best[a], sim)
            best[b] = sim if np.isnan(best[b]) else max(best[b], sim)
        sizes = np.bincount(labels, minlength=int(labels.max()) + 1 if n else 0)
        for k in range(n):
            if sizes[labels[k]] > 1:
                score[k] = 1.0 if self.method == "exact" else best[k]
        return dup_of, score

    def _cluster_list(self, members: dict[str, list[str]], ext_roots: set[str]) -> list[dict[str, Any]]:
        """The largest ``list_clusters`` clusters: id, size (records of this dataset in it), the
        kept member's id (``None`` when the cluster is an external item's), member ids."""
        ranked = sorted(members, key=lambda c: (-len(members[c]), c))[: self.list_clusters]
        return [_cluster_entry(c, members[c], c in ext_roots, self.list_members) for c in ranked]

    # ------------------------------------------------------------------ the step
    def process(self, records: list[Record], ctx: StepContext) -> Outcome:
        fields = as_fields(self.fields)
        texts = [field_text(r, fields) for r in records]
        ext_pairs = read_external(self.against, self.against_fields or fields, ctx.resolve, "dedup.against") if self.against else []
        ext_ids = [i for i, _ in ext_pairs]
        ext_texts = [t for _, t in ext_pairs]
        order = self._priority(records, texts)
        dup_of, score = self._match([texts[i] for i in order], ext_texts, ctx)
        m = len(ext_texts)

        def name_of(pos: int) -> tuple[str, bool]:
            return (ext_ids[pos], True) if pos < m else (records[order[pos - m]][ID], False)

        # cluster id: the kept (or external) member's id, shared by the whole cluster
        root = np.arange(len(dup_of))
        for k in range(len(dup_of)):
            if dup_of[k] >= 0:
                root[k] = root[dup_of[k]]
        in_cluster = np.zeros(len(dup_of), dtype=bool)
        in_cluster[root[dup_of >= 0]] = True
        in_cluster[dup_of >= 0] = True
        result: list[tuple[Record, Verdict | None]] = [None] * len(records)  # type: ignore[list-item]
        reason = REASONS[self.method]
        n_ext = 0
        for pos_in, rec_idx in enumerate(order):
            pos = pos_in + m
            s = None if np.isnan(score[pos]) else float(score[pos])
            cluster = name_of(int(root[pos]))[0] if in_cluster[pos] else None
            out = dict(records[rec_idx])
            out[self.col("score")] = s
            out[self.col("cluster")] = cluster
            if dup_of[pos] >= 0:
                kept_id, external = name_of(int(root[pos]))
                n_ext += external
                out[self.col("dup_of")] = kept_id
                v = Verdict(False, reason, s, {"dup_of": kept_id, "cluster": cluster, "external": external})
                result[rec_idx] = (out, v)
            else:
                out[self.col("dup_of")] = None
                result[rec_idx] = (out, None)
        outcome = Outcome()
        for rec, verdict in result:
            if verdict is None:
                outcome.kept.append(rec)
            else:
                outcome.rejected.append((rec, verdict))
        members: dict[str, list[str]] = {}  # cluster -> member ids, kept member first
        for rec_idx in order:
            cluster = result[rec_idx][0][self.col("cluster")]
            if cluster is not None:
                members.setdefault(cluster, []).append(records[rec_idx][ID])
        ext_roots = {ext_ids[int(root[pos])] for pos in range(m, len(dup_of)) if dup_of[pos] >= 0 and root[pos] < m}
        ctx.stats.update({
            "method": self.method,
            "threshold": self.effective_threshold,
            "duplicates": len(outcome.rejected),
            "clusters": len(members),
            "external_matches": n_ext,
            "external_size": m,
            "cluster_list": self._cluster_list(members, ext_roots),
        })
        log.info("%s: %d duplicates in %d clusters (%d against external)", ctx.step_name,
                 len(outcome.rejected), len(members), n_ext)
        return outcome


def _cluster_entry(cluster: str, ids: list[str], external: bool, limit: int) -> dict[str, Any]:
    return {"cluster": cluster, "size": len(ids), "kept": None if external else ids[0], "external": external,
            "members": ids[:limit]}


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


__all__ = ["Dedup", "exact_clusters", "exact_key"]
