"""The LLM response cache: SQLite (WAL) in the run's ``cache.sqlite``, JSON values.

The key is a hash of the canonical request (model identity, messages, parameters, output
schema) and nothing else: no step name, no record id. So editing an unrelated step, or
rerunning after a kill, finds every answer already received. Each answer is committed as
soon as it arrives.

Table ``llm_responses`` (the embedder keeps its own ``embeddings`` table in the same file)::

    key TEXT PRIMARY KEY, model TEXT, request TEXT (JSON), response TEXT (JSON),
    prompt_tokens INT, completion_tokens INT, created_at REAL, hits INT
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from tether.errors import RunStateError
from tether.llm.types import LLMRequest, LLMResponse
from tether.records import canonical_json

TABLE = "llm_responses"
_FLUSH_HITS_EVERY = 256


def request_key(model_identity: str, request: LLMRequest) -> str:
    """The cache key: sha256 of the canonical JSON of the model identity and the request."""
    req = request.model_dump(mode="json")
    if req.get("sample_key") is None:  # requests without one keep the keys they always had
        req.pop("sample_key", None)
    body = canonical_json({"model": model_identity, "request": req})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _response_json(response: LLMResponse) -> str:
    return canonical_json(response.model_dump(mode="json", exclude={"cached", "request_hash"}))


@contextmanager
def _guard(path: Path) -> Iterator[None]:
    """SQLite's errors as one clear RunStateError: a broken cache is the run's fault, never a
    record's, so no record is quarantined for it (the step's on_error does not apply)."""
    try:
        yield
    except sqlite3.DatabaseError as exc:  # corrupt file, not a database, disk I/O, locked
        from tether.io._private import disk_full, no_space

        if disk_full(exc):  # every answer committed before this one is still in the file
            raise no_space(path, exc) from exc
        raise RunStateError(
            f"the LLM response cache {path} is unusable: {exc}",
            hint=f"move {path.name} aside (the answers it holds will be asked again) and rerun, "
                 "or free the disk / stop the other process holding it",
        ) from exc


class ResponseCache:
    """A persistent map from request key to response, safe to share across threads.

    Every SQLite error is raised as :class:`RunStateError`, which stops the run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with _guard(self.path):
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, model TEXT NOT NULL,"
                " request TEXT NOT NULL, response TEXT NOT NULL, prompt_tokens INTEGER DEFAULT 0,"
                " completion_tokens INTEGER DEFAULT 0, created_at REAL, hits INTEGER DEFAULT 0)"
            )
            self._db.commit()
        self._pending_hits: dict[str, int] = {}
        self._closed = False

    def get(self, key: str) -> LLMResponse | None:
        with self._lock, _guard(self.path):
            row = self._db.execute(f"SELECT response FROM {TABLE} WHERE key=?", (key,)).fetchone()
            if row is None:
                return None
            self._pending_hits[key] = self._pending_hits.get(key, 0) + 1
            if len(self._pending_hits) >= _FLUSH_HITS_EVERY:
                self._flush_hits()
        return LLMResponse.model_validate_json(row[0])

    def put(self, key: str, model_identity: str, request: LLMRequest, response: LLMResponse) -> None:
        """Store one answer and commit it at once (a kill right after loses nothing)."""
        row = (
            key,
            model_identity,
            canonical_json(request.model_dump(mode="json")),
            _response_json(response),
            response.usage.prompt_tokens,
            response.usage.completion_tokens,
            time.time(),
        )
        with self._lock, _guard(self.path):
            self._db.execute(
                f"INSERT OR REPLACE INTO {TABLE} (key, model, request, response, prompt_tokens,"
                " completion_tokens, created_at, hits) VALUES (?,?,?,?,?,?,?,0)",
                row,
            )
            self._flush_hits(commit=False)
            self._db.commit()

    def _flush_hits(self, commit: bool = True) -> None:
        if not self._pending_hits:
            return
        self._db.executemany(
            f"UPDATE {TABLE} SET hits = hits + ? WHERE key = ?", [(n, k) for k, n in self._pending_hits.items()]
        )
        self._pending_hits.clear()
        if commit:
            self._db.commit()

    def spent(self, model_identity: str) -> tuple[int, int]:
        """Prompt and completion tokens of every answer stored for ``model_identity``."""
        with self._lock, _guard(self.path):
            row = self._db.execute(
                f"SELECT COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0) FROM {TABLE}"
                " WHERE model=?",
                (model_identity,),
            ).fetchone()
        return int(row[0]), int(row[1])

    def stats(self) -> dict[str, Any]:
        """Entries, hits and tokens, in total and by model."""
        with self._lock, _guard(self.path):
            self._flush_hits()
            rows = self._db.execute(
                f"SELECT model, COUNT(*), SUM(hits), SUM(prompt_tokens), SUM(completion_tokens),"
                f" MIN(created_at), MAX(created_at) FROM {TABLE} GROUP BY model ORDER BY model"
            ).fetchall()
        by_model = {
            m: {
                "entries": int(n),
                "hits": int(h or 0),
                "prompt_tokens": int(p or 0),
                "completion_tokens": int(c or 0),
                "first": t0,
                "last": t1,
            }
            for m, n, h, p, c, t0, t1 in rows
        }
        total = {
            k: sum(v[k] for v in by_model.values())
            for k in ("entries", "hits", "prompt_tokens", "completion_tokens")
        }
        return {"path": str(self.path), **total, "by_model": by_model}

    def iter_entries(self, model: str | None = None) -> Iterator[dict[str, Any]]:
        """Every stored answer as ``{key, model, request, response, created_at}`` (replay format)."""
        with self._lock, _guard(self.path):
            if model is None:
                rows = self._db.execute(
                    f"SELECT key, model, request, response, created_at FROM {TABLE} ORDER BY created_at, key"
                ).fetchall()
            else:
                rows = self._db.execute(
                    f"SELECT key, model, request, response, created_at FROM {TABLE} WHERE model=?"
                    " ORDER BY created_at, key",
                    (model,),
                ).fetchall()
        for key, m, req, resp, created in rows:
            yield {"key": key, "model": m, "request": json.loads(req), "response": json.loads(resp),
                   "created_at": created}

    def __len__(self) -> int:
        with self._lock, _guard(self.path):
            return int(self._db.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            with suppress(sqlite3.DatabaseError):  # a broken cache was reported where it was used
                self._flush_hits()
            self._db.close()
            self._closed = True


def entries_by_model(path: str | Path) -> dict[str, int]:
    """How many answers a cache file holds per model, read-only (empty when it has none).

    Raises:
        sqlite3.DatabaseError: the file is not a usable SQLite database.
    """
    if not has_table(path):
        return {}
    db = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        return {str(m): int(n) for m, n in db.execute(f"SELECT model, COUNT(*) FROM {TABLE} GROUP BY model")}
    finally:
        db.close()


def has_table(path: str | Path) -> bool:
    """Whether a SQLite file holds the LLM response table (read-only check)."""
    p = Path(path)
    if not p.is_file():
        return False
    db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)).fetchone()
        return row is not None
    finally:
        db.close()


__all__ = ["TABLE", "ResponseCache", "entries_by_model", "has_table", "request_key"]
