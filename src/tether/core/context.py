"""What a step sees of the run: paths, shared clients, counters for the manifest.

Steps never touch the run directory or talk HTTP themselves: they ask the context for an LLM
client (``ctx.llm("default")``) or the embedder (``ctx.embedder()``), and put numbers worth
keeping in ``ctx.stats`` (they land in the manifest under the step).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.errors import ConfigError

if TYPE_CHECKING:
    from tether.core.resources import RunResources
    from tether.llm.protocol import StepLLM

log = logging.getLogger(__name__)


@dataclass
class StepContext:
    """The run as one step sees it.

    Attributes:
        step_name: the step instance's name.
        run_id: the run's id (stable across resumes of one run directory).
        base_dir: where relative paths in the config are resolved (the config file's folder).
        step_dir: the step's folder in the run directory, or ``None`` when run in memory.
        resources: shared LLM clients, embedder and caches of the run.
        stats: numbers for the manifest (e.g. counts of PII by entity type).
        seed: the run's seed; ``rng()`` derives a per-step generator from it.
        batch_size: records per batch (a batch is the unit of resume).
    """

    step_name: str
    run_id: str = "memory"
    base_dir: Path = field(default_factory=Path.cwd)
    step_dir: Path | None = None
    resources: RunResources | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    batch_size: int = 256

    def resolve(self, path: str | Path) -> Path:
        """A path from the config, resolved against the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def rng(self, salt: str = "") -> random.Random:
        """A random generator seeded from the run seed, the step and ``salt``: deterministic."""
        return random.Random(f"{self.seed}:{self.step_name}:{salt}")

    def _res(self) -> RunResources:
        if self.resources is None:
            from tether.core.resources import RunResources

            self.resources = RunResources()
        return self.resources

    def llm(self, name: str = "default") -> StepLLM:
        """The run's LLM client named ``name`` in the config's ``llm`` section."""
        return self._res().llm(name, step=self.step_name)

    def embedder(self) -> Any:
        """The run's embedder (local all-MiniLM-L6-v2 unless the config says otherwise)."""
        return self._res().embedder()

    def require(self, condition: bool, message: str, hint: str | None = None) -> None:
        """Raise a :class:`ConfigError` naming this step unless ``condition`` holds."""
        if not condition:
            raise ConfigError(f"step {self.step_name}: {message}", hint=hint)


__all__ = ["StepContext"]
