"""Things a run shares across its steps: LLM clients, the embedder, caches.

Built lazily, on the first step that asks, and closed when the run ends.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tether.embed import Embedder, EmbedderConfig
from tether.errors import ConfigError
from tether.llm.config import LLMConfig
from tether.llm.protocol import RunLLM, StepLLM

log = logging.getLogger(__name__)


class RunResources:
    """Shared, lazily built clients of one run.

    Args:
        llm_configs: the pipeline's ``llm`` section.
        embedder_config: the pipeline's ``embedder`` section.
        cache_path: the run's ``cache.sqlite`` (LLM responses and embeddings), or ``None``.
    """

    def __init__(
        self,
        llm_configs: dict[str, LLMConfig] | None = None,
        embedder_config: EmbedderConfig | None = None,
        cache_path: Path | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.llm_configs = dict(llm_configs or {})
        self.embedder_config = embedder_config or EmbedderConfig()
        self.cache_path = cache_path
        self.options = dict(options or {})
        self._clients: dict[str, RunLLM] = {}
        self._embedder: Embedder | None = None

    def llm(self, name: str, *, step: str | None = None) -> StepLLM:
        """The client for the ``llm`` entry ``name``; usage is attributed to ``step``."""
        if name not in self.llm_configs:
            known = ", ".join(sorted(self.llm_configs)) or "none"
            raise ConfigError(
                f"step {step or '?'} asks for llm '{name}', but the config's llm section has: {known}",
                hint=f"add llm: {{{name}: {{backend: ..., model: ...}}}} to the pipeline",
            )
        if name not in self._clients:
            from tether.llm import open_client

            self._clients[name] = open_client(
                self.llm_configs[name], name=name, cache_path=self.cache_path, **self.options
            )
        client = self._clients[name]
        return client.for_step(step) if step is not None else client

    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(self.embedder_config, cache_path=self.cache_path)
        return self._embedder

    def usage(self) -> dict[str, Any]:
        """LLM usage so far, per client, for the manifest (clients expose ``usage_report()``)."""
        out: dict[str, Any] = {}
        for name, client in self._clients.items():
            out[name] = client.usage_report()
        return out

    def step_usage(self, step: str) -> dict[str, Any] | None:
        """LLM usage attributed to one step (clients expose ``usage_by_step()``), or None."""
        total: dict[str, Any] = {}
        for client in self._clients.values():
            for k, v in (client.usage_by_step().get(step) or {}).items():
                if isinstance(v, int | float):
                    total[k] = total.get(k, 0) + v
        return total or None

    def step_usage_by_client(self, step: str) -> dict[str, dict[str, Any]]:
        """LLM usage attributed to one step in this process, per client name, with the
        client's model and backend: ``{name: {"model", "backend", "calls", "prompt_tokens", ...}}``."""
        out: dict[str, dict[str, Any]] = {}
        for name, client in self._clients.items():
            used = client.usage_by_step().get(step) or {}
            counters = {k: v for k, v in used.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            if any(counters.values()):
                config = self.llm_configs.get(name)
                out[name] = {"model": client.model_identity,
                             "backend": getattr(config, "backend", None), **counters}
        return out

    async def aclose(self) -> None:
        """Close clients' connections on the running event loop, then everything else."""
        for client in list(self._clients.values()):
            aclose = getattr(client, "aclose", None)  # an async close is optional: LLMClient has one
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # noqa: BLE001 - closing must not hide the run's own error
                    log.debug("closing a client failed", exc_info=True)
        self.close()

    def close(self) -> None:
        for client in self._clients.values():
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing must not hide the run's own error
                log.debug("closing a client failed", exc_info=True)
        self._clients.clear()
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
