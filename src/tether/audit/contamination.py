"""Contamination (needs ``benchmarks``): synthetic records that hold a benchmark item, verbatim
(word n-grams) or paraphrased (embedding similarity), as a share of the synthetic records.

A benchmark item is compared as a whole and field by field (question, answer, ... each text
column; fields shorter than the n-gram are matched whole from ``contamination_min_words``
words), so a synthetic record that holds only the question of a question + answer item is
found; a synthetic record is compared as a whole, by its prompt side and by the prompt's
sentences (:func:`record_views`). N-grams shared by two or more benchmark items
(boilerplate) do not count. The same checks on a holdout (real data the generator never saw;
else the reference) are the baseline: real data of the same kind overlaps a benchmark by
chance (shared phrases, templated items, common code), and only an excess over it warns.

Example:
    >>> ngram_set(["a b c d"], 3) == {("a", "b", "c"), ("b", "c", "d")}
    True
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tether.audit.base import MetricResult, metric, wilson_ci
from tether.audit.dataset import (
    AuditData,
    Corpus,
    _as_str,
    _messages_text,
    prompt_text,
    text_columns,
)
from tether.text import normalize, word_ngrams

log = logging.getLogger(__name__)

F = "contamination"
NGRAM = metric(F, "ngram_overlap", higher_is_better=False, bounds=(0.0, 1.0),
               description="Share of synthetic records sharing a word n-gram (13 by default; a whole field "
                           "when shorter) with a benchmark item; the share of benchmark items is in the details.")
EMBED = metric(F, "embedding_overlap", higher_is_better=False, bounds=(0.0, 1.0),
               description="Share of synthetic records whose embedding (whole, prompt side or a sentence) has "
                           "cosine similarity above the threshold with a benchmark field; paraphrases.")
SHARE = metric(F, "contaminated_share", higher_is_better=False, bounds=(0.0, 1.0),
               description="Share of synthetic records holding a benchmark item by either check (n-gram or "
                           "embedding).")

#: Fewest words (of two letters or more) of a field, prompt or sentence compared by embedding
#: on its own: a bare "Thanks!" or a list of numbers embeds close to many unrelated ones.
EMBED_MIN_WORDS = 3
_WORD = re.compile(r"[^\W\d_]{2,}")


def _words(text: str) -> int:
    return len(_WORD.findall(text))

#: Smallest number of flagged synthetic records that can warn, and the smallest excess over
#: the holdout's share: one or two chance matches do not warn.
MIN_RECORDS = 3
MIN_EXCESS = 0.01
P_MAX = 0.01  # one-sided Fisher test of the synthetic count against the baseline's
_CHUNK = 2048


def ngram_set(texts: Sequence[str], n: int = 13) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for t in texts:
        out.update(word_ngrams(t, n))
    return out


# ------------------------------------------------------------------ views of records


def item_fields(record: dict[str, Any], fields: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """``(field, text)`` for each text field of a benchmark item (each message of a chat)."""
    out = []
    for col in text_columns(record, fields):
        v = record.get(col)
        if col == "messages" and isinstance(v, list):
            out += [(f"message{j}", _as_str(m.get("content"))) for j, m in enumerate(v) if isinstance(m, dict)]
        else:
            out.append((col, _messages_text(v) if col == "messages" else _as_str(v)))
    return [(c, t) for c, t in out if t.strip()]


@dataclass
class Views:
    """Texts compared for one corpus: ``texts[j]`` belongs to record ``owner[j]`` and is its
    field ``field[j]`` (``"record"``: the whole record)."""

    texts: list[str]
    owner: np.ndarray
    field: list[str]


def benchmark_views(bench: Corpus, min_words: int) -> Views:
    """Every benchmark item as a whole, plus each of its fields of at least ``min_words``
    words (of two letters or more) when it has several."""
    texts, owner, field = [], [], []
    for i, (r, whole) in enumerate(zip(bench.records, bench.texts, strict=True)):
        texts.append(whole)
        owner.append(i)
        field.append("record")
        parts = item_fields(r, bench.text_fields)
        if len(parts) < 2:
            continue
        for name, t in parts:
            if _words(t) >= min_words:
                texts.append(t)
                owner.append(i)
                field.append(name)
    return Views(texts, np.asarray(owner, dtype=np.int64), field)


_SENTENCE = re.compile(r"(?<=[.!?:])\s+|\n+")
MAX_SENTENCES = 8  # sentence views per record


def record_views(corpus: Corpus, min_words: int) -> Views:
    """Every record as a whole, plus its prompt side and the prompt's sentences (each of at
    least ``min_words`` words) where they differ from the whole: a record whose prompt is a
    benchmark question is found though its own answer dilutes the whole record's embedding,
    and one that wraps the question in sentences of its own, though they dilute the prompt's.
    A record with no prompt side (plain ``text``) is split into its sentences when it has at
    most ``MAX_SENTENCES`` (longer documents are compared whole: their sentences would
    multiply the embeddings to compute)."""
    texts, owner, field = list(corpus.texts), list(range(len(corpus))), ["record"] * len(corpus)
    for i, (r, whole) in enumerate(zip(corpus.records, corpus.texts, strict=True)):
        p = prompt_text(r).strip()
        seen = {whole.strip()}
        parts = [("prompt", p)] if p else []
        # the prompt's sentences; a record with no prompt side, its own when it has only a few
        sents = [x.strip() for x in _SENTENCE.split(p or whole) if x.strip()]
        if len(sents) > 1 and (p or len(sents) <= MAX_SENTENCES):
            parts += [("sentence", x) for x in sents[:MAX_SENTENCES]]
        for name, t in parts:
            if t not in seen and _words(t) >= min_words:
                seen.add(t)
                texts.append(t)
                owner.append(i)
                field.append(name)
    return Views(texts, np.asarray(owner, dtype=np.int64), field)


# ------------------------------------------------------------------ verbatim: n-grams

_MULT = np.uint64(0x9E3779B97F4A7C15)


def _token_ids(token_lists: Sequence[list[str]], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """All tokens as ids (one array) and each list's start offset (``len + 1`` entries)."""
    ids = [vocab.setdefault(w, len(vocab) + 1) for toks in token_lists for w in toks]
    starts = np.zeros(len(token_lists) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in token_lists], out=starts[1:])
    return np.asarray(ids, dtype=np.uint64), starts


def _window_hashes(ids: np.ndarray, starts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every n-token window inside one list, and the list each comes from."""
    total = len(ids)
    if total < n:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    h = np.zeros(total - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * _MULT + ids[j : total - n + 1 + j]
    pos = np.arange(total - n + 1)
    owner = np.searchsorted(starts, pos, side="right") - 1
    keep = pos + n <= starts[owner + 1]
    return h[keep], owner[keep]


def ngram_matches(syn_tokens: Sequence[list[str]], bench_tokens: Sequence[list[str]], bench_owner: np.ndarray,
                  n: int = 13, min_words: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """For each synthetic record, the benchmark item it shares an n-gram with, or -1; and for
    each benchmark view, whether some synthetic record holds it.

    A view of at least ``n`` words matches through any of its n-grams; a shorter one (of at
    least ``min_words`` words) through its whole word sequence. N-grams found in two or more benchmark items are boilerplate and
    do not count. ``bench_owner[j]`` is the item of view ``j``."""
    vocab: dict[str, int] = {}
    b_ids, b_starts = _token_ids(bench_tokens, vocab)
    s_ids, s_starts = _token_ids(syn_tokens, vocab)
    n_syn = len(syn_tokens)
    hit_item = np.full(n_syn, -1, dtype=np.int64)
    view_hit = np.zeros(len(bench_tokens), dtype=bool)
    lens = np.diff(b_starts)
    for m in sorted({int(min(n, ln)) for ln in lens if ln >= min(min_words, n)}):
        # the views compared at this window size: n-grams of the long ones, whole short ones
        sel = np.where((lens >= n) if m == n else (lens == m))[0]
        if not len(sel):
            continue
        bh, bv = _window_hashes(b_ids, b_starts, m)
        keep = np.isin(bv, sel)
        bh, bv = bh[keep], bv[keep]
        items = bench_owner[bv]
        # boilerplate: a hash held by views of two or more different items
        order = np.lexsort((items, bh))
        bh, bv, items = bh[order], bv[order], items[order]
        first = np.r_[True, bh[1:] != bh[:-1]]
        last = np.r_[bh[1:] != bh[:-1], True]
        specific = items[first] == items[last]
        u_hash, u_view = bh[first][specific], bv[first][specific]
        if not len(u_hash):
            continue
        sh, so = _window_hashes(s_ids, s_starts, m)
        pos = np.searchsorted(u_hash, sh)
        pos[pos >= len(u_hash)] = 0
        found = u_hash[pos] == sh
        if not found.any():
            continue
        views = u_view[pos[found]]
        owners = so[found]
        view_hit[views] = True
        # the first matching item per synthetic record
        upd = hit_item[owners] < 0
        hit_item[owners[upd]] = bench_owner[views[upd]]
    return hit_item, view_hit


# ------------------------------------------------------------------ paraphrase: embeddings


def nearest_views(q: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``q`` (unit vectors), the index of the most similar row of ``keys`` and
    the cosine similarity."""
    best = np.full(len(q), -np.inf, dtype=np.float32)
    arg = np.zeros(len(q), dtype=np.int64)
    if not len(keys):
        return arg, best
    for s in range(0, len(q), _CHUNK):
        m = q[s : s + _CHUNK] @ keys.T
        a = m.argmax(1)
        arg[s : s + _CHUNK] = a
        best[s : s + _CHUNK] = m[np.arange(len(a)), a]
    return arg, best


def _per_record(owner: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The largest value per record over its views, and the view it comes from."""
    best = np.full(n, -np.inf, dtype=np.float64)
    np.maximum.at(best, owner, values)
    view = np.full(n, -1, dtype=np.int64)
    is_best = values >= best[owner]
    view[owner[is_best]] = np.where(is_best)[0]
    return best, view


def _encode(data: AuditData, texts: list[str]) -> np.ndarray:
    if data.embedder is None:
        from tether.embed import Embedder

        data.embedder = Embedder()
    emb = np.asarray(data.embedder.encode(texts), dtype=np.float32)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.where(norms > 0, norms, 1.0)


def _view_embeddings(data: AuditData, corpus: Corpus, views: Views) -> np.ndarray:
    """Embeddings of the views: the corpus's own for whole records, the rest encoded."""
    whole = np.asarray(data.emb(corpus), dtype=np.float32)
    whole = whole / np.maximum(np.linalg.norm(whole, axis=1, keepdims=True), 1e-12)
    out = np.empty((len(views.texts), whole.shape[1]), dtype=np.float32)
    is_whole = np.array([f == "record" for f in views.field], dtype=bool)
    out[is_whole] = whole[views.owner[is_whole]]
    rest = np.where(~is_whole)[0]
    if len(rest):
        out[rest] = _encode(data, [views.texts[j] for j in rest])
    return out


# ------------------------------------------------------------------ the family


@dataclass
class _Scan:
    """One corpus (synthetic or holdout) against every benchmark."""

    ngram_item: dict[str, np.ndarray]  # per benchmark: per record, matched item or -1
    ngram_views: dict[str, np.ndarray]  # per benchmark: per view, held by some record
    sim: dict[str, np.ndarray]  # per benchmark: per record, best cosine
    sim_item: dict[str, np.ndarray]
    sim_field: dict[str, list[str]]
    sim_rec_field: dict[str, list[str]]
    n: int

    def ngram_any(self) -> np.ndarray:
        return np.any([v >= 0 for v in self.ngram_item.values()], axis=0) if self.ngram_item else np.zeros(self.n, bool)

    def embed_any(self, thr: float) -> np.ndarray:
        return np.any([v >= thr for v in self.sim.values()], axis=0) if self.sim else np.zeros(self.n, bool)


def _scan(data: AuditData, corpus: Corpus, benches: dict[str, tuple[Corpus, Views, list[list[str]], np.ndarray]],
          n: int, min_words: int) -> _Scan:
    rv = record_views(corpus, EMBED_MIN_WORDS)
    re_ = _view_embeddings(data, corpus, rv)
    scan = _Scan({}, {}, {}, {}, {}, {}, len(corpus))
    for name, (_bench, bv, btoks, bemb) in benches.items():
        item, views_hit = ngram_matches(corpus.tokens, btoks, bv.owner, n, min_words)
        scan.ngram_item[name], scan.ngram_views[name] = item, views_hit
        arg, sim = nearest_views(re_, bemb)
        best, view = _per_record(rv.owner, sim.astype(np.float64), len(corpus))
        scan.sim[name] = best
        scan.sim_item[name] = np.where(view >= 0, bv.owner[arg[np.maximum(view, 0)]], -1)
        scan.sim_field[name] = [bv.field[arg[v]] if v >= 0 else "" for v in view]
        scan.sim_rec_field[name] = [rv.field[v] if v >= 0 else "" for v in view]
    return scan


def _judge(res: MetricResult, k: int, n: int, base: tuple[int, int] | None, base_name: str = "") -> MetricResult:
    """Warn when at least MIN_RECORDS records are flagged and, with a baseline (holdout, else
    reference), their share is MIN_EXCESS above the baseline's and a one-sided Fisher test
    gives p < P_MAX."""
    if base is None:
        res.details["baseline"] = None
        return res.warn_if(k >= MIN_RECORDS, f"{k} synthetic records hold benchmark items")
    from scipy.stats import fisher_exact

    kb, nb = base
    share_b = kb / nb if nb else 0.0
    p = float(fisher_exact([[k, n - k], [kb, nb - kb]], alternative="greater")[1]) if n and nb else 1.0
    res.details.update({"baseline": {"set": base_name, "records": nb, "flagged": kb, "share": share_b},
                        "p_value": p})
    return res.warn_if(k >= MIN_RECORDS and k / max(n, 1) > share_b + MIN_EXCESS and p < P_MAX,
                       f"{k} synthetic records ({k / max(n, 1):.1%}) hold benchmark items, against "
                       f"{share_b:.1%} of the {base_name} (p={p:.2g})")


def run(data: AuditData) -> list[MetricResult]:
    cfg = data.config
    syn = data.synthetic
    n, min_words = cfg.contamination_ngram, cfg.contamination_min_words
    thr = cfg.contamination_embed_threshold
    benches = {}
    for name, bench in data.benchmarks.items():
        bv = benchmark_views(bench, EMBED_MIN_WORDS)
        btoks = [normalize(t).split() for t in bv.texts]
        benches[name] = (bench, bv, btoks, _view_embeddings(data, bench, bv))
    s = _scan(data, syn, benches, n, min_words)
    # the baseline: real data of the same kind that the generator did not copy from the benchmark
    base_name, base_corpus = next(((k, c) for k, c in (("holdout", data.holdout), ("reference", data.reference))
                                   if c is not None and len(c)), ("", None))
    h = _scan(data, base_corpus, benches, n, min_words) if base_corpus is not None else None

    per: dict[str, dict[str, Any]] = {}
    for name, (bench, bv, _, _) in benches.items():
        ng_items = np.zeros(len(bench), bool)
        ng_items[bv.owner[s.ngram_views[name]]] = True
        em_items = np.zeros(len(bench), bool)
        close = s.sim[name] >= thr
        em_items[s.sim_item[name][close]] = True
        per[name] = {"items": len(bench), "fields_compared": len(bv.texts),
                     "ngram": {"records": int((s.ngram_item[name] >= 0).sum()), "items": int(ng_items.sum()),
                               "benchmark_share": float(ng_items.mean()) if len(bench) else None},
                     "embedding": {"records": int(close.sum()), "items": int(em_items.sum()),
                                   "benchmark_share": float(em_items.mean()) if len(bench) else None},
                     "either": {"items": int((ng_items | em_items).sum()),
                                "benchmark_share": float((ng_items | em_items).mean()) if len(bench) else None}}

    def offs(flag: np.ndarray, kind: str) -> list[dict[str, Any]]:
        rows = []
        for i in np.where(flag)[0]:
            best = max(benches, key=lambda b: (s.ngram_item[b][i] >= 0 if kind == "ngram" else s.sim[b][i]))
            if kind == "ngram" or (kind == "either" and s.ngram_item[best][i] >= 0):
                j = int(s.ngram_item[best][i])
                rows.append({"id": syn.ids[i], "score": 1.0, "check": "ngram", "benchmark": best,
                             "benchmark_id": benches[best][0].ids[j], "text": syn.texts[i][:300]})
            else:
                j = int(s.sim_item[best][i])
                rows.append({"id": syn.ids[i], "score": float(s.sim[best][i]), "check": "embedding",
                             "benchmark": best, "benchmark_id": benches[best][0].ids[j],
                             "benchmark_field": s.sim_field[best][i], "record_field": s.sim_rec_field[best][i],
                             "text": syn.texts[i][:300]})
        rows.sort(key=lambda r: -r["score"])
        return rows[:20]

    flags = {"ngram": s.ngram_any(), "embedding": s.embed_any(thr)}
    flags["either"] = flags["ngram"] | flags["embedding"]
    base = None
    if h is not None:
        hf = {"ngram": h.ngram_any(), "embedding": h.embed_any(thr)}
        hf["either"] = hf["ngram"] | hf["embedding"]
        base = {k: (int(v.sum()), h.n) for k, v in hf.items()}
    worst = max(per, key=lambda b: per[b]["either"]["benchmark_share"] or 0.0) if per else None
    common = {"benchmarks": per, "worst_benchmark": worst, "min_words": min_words}
    out = []
    for info, kind, extra in ((NGRAM, "ngram", {"n": n}), (EMBED, "embedding", {"threshold": thr}),
                              (SHARE, "either", {"n": n, "threshold": thr})):
        k, m = int(flags[kind].sum()), len(syn)
        bshare = {b: per[b][kind]["benchmark_share"] for b in per}
        res = MetricResult.of(info, k / m if m else float("nan"), n=m, ci=wilson_ci(k, m),
                              details={"flagged_records": k, "benchmark_share": bshare, **extra, **common},
                              offenders=offs(flags[kind], kind))
        if kind == "either":  # which records to drop to decontaminate (the first 1,000)
            res.details["flagged_ids"] = [syn.ids[i] for i in np.where(flags[kind])[0][:1000]]
        out.append(_judge(res, k, m, None if base is None else base[kind], base_name))
    return out


__all__ = ["Views", "benchmark_views", "item_fields", "nearest_views", "ngram_matches", "ngram_set", "record_views",
           "run"]
