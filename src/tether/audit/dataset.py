"""The corpora an audit compares: texts picked from records, ids, labels, cached embeddings.

The text of a record comes from ``text_fields`` when given, else ``messages`` (contents
joined) or every known text column it has (:data:`TEXT_FIELDS`, prompt side first): an
``instruction`` + ``input`` + ``output`` record is measured with its answer.

Example:
    >>> record_text({"question": "Why?", "answer": "Because."})
    'Why?\\nBecause.'
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from tether.errors import InputError
from tether.records import digest

log = logging.getLogger(__name__)

#: The text columns the audit knows, in the order they are joined: the prompt side first,
#: then the answer side. Without ``text_fields`` a record's text is every one of them that it
#: has (so an Alpaca ``instruction`` / ``input`` / ``output`` record is measured with its
#: answer, and a copied private answer cannot hide in ``output``). ``context`` (the source
#: passage of grounded data) and other columns are measured only when named in ``text_fields``.
PROMPT_FIELDS: tuple[str, ...] = ("system", "instruction", "input", "question", "prompt", "query")
RESPONSE_FIELDS: tuple[str, ...] = ("response", "output", "answer", "completion", "chosen", "rejected")
TEXT_FIELDS: tuple[str, ...] = (*PROMPT_FIELDS, *RESPONSE_FIELDS, "text", "content")


def _as_str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)) and v and all(isinstance(m, Mapping) for m in v):
        return _messages_text(v)  # a chat-shaped column (``chosen`` / ``rejected`` as messages)
    return json.dumps(v, ensure_ascii=False, default=str)


def _messages_text(msgs: Any, roles: Sequence[str] | None = None) -> str:
    if isinstance(msgs, str):
        try:
            msgs = json.loads(msgs)
        except json.JSONDecodeError:
            return msgs
    if not isinstance(msgs, Sequence):
        return _as_str(msgs)
    parts = []
    for m in msgs:
        if isinstance(m, Mapping):
            if roles is None or m.get("role") in roles:
                parts.append(_as_str(m.get("content")))
        elif roles is None:
            parts.append(_as_str(m))
    return "\n".join(p for p in parts if p)


def text_columns(record: Mapping[str, Any], fields: Sequence[str] | None = None) -> list[str]:
    """The columns of ``record`` that :func:`record_text` joins."""
    if fields:
        return [f for f in fields if record.get(f) not in (None, "")]
    if record.get("messages") is not None:
        return ["messages"]
    return [f for f in TEXT_FIELDS if record.get(f) not in (None, "")]


def record_text(record: Mapping[str, Any], fields: Sequence[str] | None = None) -> str:
    """The text of ``record`` that the audit measures: ``fields`` joined by newlines, or
    without them ``messages`` (contents joined) or every known text column the record has."""
    parts = []
    for f in text_columns(record, fields):
        v = record.get(f)
        parts.append(_messages_text(v) if f == "messages" else _as_str(v))
    return "\n".join(p for p in parts if p)


def prompt_text(record: Mapping[str, Any]) -> str:
    """The prompt side of a record (what a response answers): the non-assistant messages, or
    the prompt columns joined; empty for records with no prompt/response split. Records of
    two corpora with the same prompt text are paired (answers to one instruction)."""
    msgs = record.get("messages")
    if msgs is not None:
        return _messages_text(msgs, roles=("system", "user"))
    return "\n".join(_as_str(record.get(f)) for f in PROMPT_FIELDS if record.get(f) not in (None, ""))


def response_text(record: Mapping[str, Any]) -> str:
    """The answer part of a record (for truncation and refusal checks)."""
    msgs = record.get("messages")
    if msgs is not None:
        if isinstance(msgs, str):
            try:
                msgs = json.loads(msgs)
            except json.JSONDecodeError:
                return msgs
        for m in reversed(list(msgs or [])):
            if isinstance(m, Mapping) and m.get("role") == "assistant":
                return _as_str(m.get("content"))
        return ""
    for f in ("response", "output", "answer", "completion", "text"):
        if f in record:
            return _as_str(record.get(f))
    return ""


@dataclass
class Corpus:
    """One side of the comparison: records, their ids and texts, and (lazily) embeddings."""

    name: str
    records: list[dict[str, Any]]
    text_fields: list[str] | None = None
    ids: list[str] = field(init=False)
    texts: list[str] = field(init=False)
    columns: dict[str, int] = field(init=False)
    _emb: np.ndarray | None = field(default=None, init=False, repr=False)
    _tokens: list[list[str]] | None = field(default=None, init=False, repr=False)
    _word_counts: Counter[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.texts = [record_text(r, self.text_fields) for r in self.records]
        self.columns = self._columns()
        self.ids = [str(r.get("id") or digest(t)) for r, t in zip(self.records, self.texts, strict=True)]
        if self.records and not any(t.strip() for t in self.texts):
            raise InputError(
                f"{self.name}: no record has text in the fields the audit reads",
                hint="set audit text_fields (or --text-field) to the columns that hold the text",
            )

    def __len__(self) -> int:
        return len(self.records)

    def _columns(self) -> dict[str, int]:
        """How many records each measured column came from (for the report)."""
        seen: Counter[str] = Counter()
        for r in self.records:
            seen.update(text_columns(r, self.text_fields))
        return dict(seen.most_common())

    def group_keys(self, field_name: str | None = None) -> list[str]:
        """Per record, the key of the group it belongs to for cross-validation: records that
        answer one prompt (or share ``field_name``'s value, or a lineage parent) must not be
        split between training and test folds. Empty string: the record is its own group."""
        out = []
        for r in self.records:
            if field_name:
                v = r.get(field_name)
                out.append("" if v in (None, "") else f"{field_name}:{_as_str(v)}")
                continue
            p = prompt_text(r)
            if p.strip():
                out.append("prompt:" + p.strip())
                continue
            lin = r.get("lineage")
            parents = lin.get("parents") if isinstance(lin, Mapping) else None
            out.append("parent:" + str(sorted(parents)[0]) if parents else "")
        return out

    @property
    def tokens(self) -> list[list[str]]:
        """Each text's words, normalised (``tether.text.normalize``), computed once: the
        word-level measures of several families share them."""
        if self._tokens is None:
            from tether.text import normalize

            self._tokens = [normalize(t).split() for t in self.texts]
        return self._tokens

    @property
    def word_counts(self) -> Counter[str]:
        """How often each normalised word occurs in the corpus (computed once)."""
        if self._word_counts is None:
            self._word_counts = Counter(chain.from_iterable(self.tokens))
        return self._word_counts

    def responses(self) -> list[str]:
        return [response_text(r) for r in self.records]

    def labels(self, field_name: str) -> list[Any] | None:
        vals = [r.get(field_name) for r in self.records]
        if sum(v is not None for v in vals) < max(2, len(vals) // 2):
            return None
        return vals

    def subset(self, idx: Sequence[int] | np.ndarray, name: str | None = None) -> Corpus:
        sub = Corpus.__new__(Corpus)
        sub.name = name or self.name
        sub.records = [self.records[i] for i in idx]
        sub.text_fields = self.text_fields
        sub.ids = [self.ids[i] for i in idx]
        sub.texts = [self.texts[i] for i in idx]
        sub.columns = self.columns
        sub._emb = None if self._emb is None else self._emb[np.asarray(idx, dtype=int)]
        sub._tokens = None if self._tokens is None else [self._tokens[i] for i in idx]
        sub._word_counts = None
        return sub

    def set_embeddings(self, emb: np.ndarray) -> None:
        self._emb = emb

    @property
    def embeddings(self) -> np.ndarray:
        if self._emb is None:
            raise RuntimeError(f"{self.name}: embeddings were not computed")
        return self._emb


def load_corpus(path: str | Path, name: str, text_fields: Sequence[str] | None = None) -> Corpus:
    """Read a dataset file (any format ``tether.io`` reads) into a :class:`Corpus`."""
    from tether.io import read_records

    p = Path(path)
    if not p.exists():
        raise InputError(f"--{name} {p}: no such file or folder", hint="check the path")
    if p.is_dir() and not (p / "state.json").exists() and not (p / "dataset_dict.json").exists():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".jsonl", ".json", ".parquet", ".csv"))
        if files:
            records: list[dict[str, Any]] = []
            for f in files:
                records.extend(read_records(f))
            return Corpus(name, records, list(text_fields) if text_fields else None)
    return Corpus(name, read_records(p), list(text_fields) if text_fields else None)


__all__ = ["TEXT_FIELDS", "AuditData", "Corpus", "load_corpus", "prompt_text", "record_text", "response_text",
           "text_columns"]


@dataclass
class AuditData:
    """What every family's ``run`` gets: the corpora, the config and the embedder."""

    synthetic: Corpus
    config: Any  # AuditConfig
    reference: Corpus | None = None
    private: Corpus | None = None
    holdout: Corpus | None = None
    benchmarks: dict[str, Corpus] = field(default_factory=dict)
    embedder: Any = None  # tether.embed.Embedder
    plots: dict[str, Any] = field(default_factory=dict)
    _analyzers: dict[tuple[int, int], Callable[[str], list[str]]] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the memoised analyzers (closures), for an audit's worker process."""
        state = dict(self.__dict__)
        state["_analyzers"] = {}
        return state

    def word_analyzer(self, ngram_range: tuple[int, int] = (1, 2)) -> Callable[[str], list[str]]:
        """scikit-learn's word analyzer for ``ngram_range`` (lowercase, default token pattern),
        memoised per text for this audit: the classifier tests, utility and the counterfactual
        test fit several TF-IDF models on the same texts. Pass it as a vectorizer's
        ``analyzer``; the features are the ones the vectorizer would make itself."""
        key = (int(ngram_range[0]), int(ngram_range[1]))
        if key not in self._analyzers:
            from sklearn.feature_extraction.text import TfidfVectorizer

            base = TfidfVectorizer(ngram_range=key).build_analyzer()
            memo: dict[str, list[str]] = {}

            def analyze(doc: str) -> list[str]:
                out = memo.get(doc)
                if out is None:
                    out = memo[doc] = base(doc)
                return out

            self._analyzers[key] = analyze
        return self._analyzers[key]

    def emb(self, corpus: Corpus) -> np.ndarray:
        """The corpus's embeddings (computed once, cached on disk by the embedder)."""
        if corpus._emb is None:
            if self.embedder is None:
                from tether.embed import Embedder

                self.embedder = Embedder()
            corpus.set_embeddings(self.embedder.encode(corpus.texts))
        return corpus.embeddings

    def sample(self, corpus: Corpus, limit: int | None = None, salt: int = 0) -> Corpus:
        """At most ``limit`` (default ``max_records``) records of ``corpus``, chosen at random."""
        limit = limit or self.config.max_records
        if len(corpus) <= limit:
            return corpus
        rng = np.random.default_rng(self.config.seed + salt)
        idx = np.sort(rng.choice(len(corpus), size=limit, replace=False))
        return corpus.subset(idx)
