"""``backend: replay``: answers only from a recorded file; never invents one.

The file is JSONL, one answer a line, as ``tether cache export RUN_DIR --out FILE`` writes::

    {"key": "<cache key>", "model": "openai:gpt-4o-mini", "request": {...}, "response": {...}}

(a run's ``cache.sqlite`` can be given directly too). ``model`` in the config picks the
recorded model: its full identity (``openai:gpt-4o-mini``) or its name (``gpt-4o-mini``).
A replayed answer carries the recorded model's identity, so the cache keys and lineage of a
replayed run are those of the recorded one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tether.errors import ConfigError, InputError, ReplayMissError
from tether.llm._private import Backend, short
from tether.llm.cache import ResponseCache, has_table, request_key
from tether.llm.config import LLMConfig
from tether.llm.types import LLMRequest, LLMResponse


def load_entries(path: Path) -> list[dict[str, Any]]:
    """Recorded answers from a replay JSONL or a ``cache.sqlite``."""
    if not path.is_file():
        raise ConfigError(f"replay_file {path} does not exist",
                          hint="make one with `tether cache export RUN_DIR --out FILE`")
    with path.open("rb") as fh:
        is_sqlite = fh.read(16) == b"SQLite format 3\x00"
    if is_sqlite:
        if not has_table(path):
            raise ConfigError(f"replay_file {path} is a SQLite file without recorded LLM answers")
        cache = ResponseCache(path)
        try:
            return list(cache.iter_entries())
        finally:
            cache.close()
    out = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict) or not {"model", "request", "response"} <= set(entry):
                    raise ValueError("needs keys model, request, response")
            except ValueError as exc:
                raise InputError(f"{path}:{i}: not a replay entry: {exc}",
                                 hint="replay files come from `tether cache export`") from None
            out.append(entry)
    return out


class ReplayBackend(Backend):
    """Recorded answers by cache key; a request with no answer raises :class:`ReplayMissError`."""

    billable = False

    def __init__(self, config: LLMConfig, *, base_dir: Path | None = None) -> None:
        assert config.replay_file is not None
        path = Path(config.replay_file).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        self.path = path
        entries = load_entries(path)
        models = sorted({e["model"] for e in entries})
        wanted = config.model
        chosen = [m for m in models if m == wanted] or [m for m in models if m.split(":", 1)[-1] == wanted]
        if len(chosen) != 1:
            raise ConfigError(
                f"replay_file {path} has no single recorded model '{wanted}'"
                + (f" (it has: {', '.join(models)})" if models else " (it is empty)"),
                hint="set model: to one of the recorded models",
            )
        self.identity = chosen[0]
        self._answers: dict[str, LLMResponse] = {}
        for e in entries:
            if e["model"] != self.identity:
                continue
            try:
                req = LLMRequest.model_validate(e["request"])
                resp = LLMResponse.model_validate(e["response"])
            except ValidationError as exc:
                raise InputError(f"{path}: a replay entry does not validate: {short(str(exc), 200)}") from None
            # keyed by the request as this version of tether canonicalises it
            self._answers[request_key(self.identity, req)] = resp

    def __len__(self) -> int:
        return len(self._answers)

    async def call(self, request: LLMRequest) -> LLMResponse:
        key = request_key(self.identity, request)
        resp = self._answers.get(key)
        if resp is None and request.sample_key is not None:
            # a recording made without sample keys answers every sample of a prompt alike
            resp = self._answers.get(request_key(self.identity, request.model_copy(update={"sample_key": None})))
        if resp is None:
            first = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
            raise ReplayMissError(
                f"replay file {self.path} has no answer for request {key[:16]} (model {self.identity},"
                f" last user message: {short(first, 80)!r})",
                hint="record it: run once with a live backend, then `tether cache export RUN_DIR --out FILE`",
            )
        return resp.model_copy(update={"model": self.identity})


__all__ = ["ReplayBackend", "load_entries"]
