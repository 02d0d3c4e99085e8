"""tether: make synthetic training data for LLMs, curate it, audit its risks, ship it with lineage.

``import tether`` is light: it never imports torch, transformers, vllm or ray.

Example:
    >>> import tether
    >>> pipe = tether.Pipeline.from_yaml("examples/quickstart/pipeline.yaml")  # doctest: +SKIP
    >>> result = pipe.run("runs/quickstart")  # doctest: +SKIP
"""

from __future__ import annotations

from tether._version import __version__
from tether.errors import (
    AuditGateError,
    ConfigError,
    InputError,
    LLMError,
    TetherError,
)
from tether.pipeline import Pipeline, PipelineConfig, RunResult

__all__ = [
    "AuditGateError",
    "ConfigError",
    "InputError",
    "LLMError",
    "Pipeline",
    "PipelineConfig",
    "RunResult",
    "TetherError",
    "__version__",
]
