"""The step contract, below every package that defines steps and below the executors that run
them (docs/architecture.md): steps and their outcomes, the context a step sees, the registry,
the run directory's format and the run's shared resources."""

from tether.core.context import StepContext
from tether.core.registry import register
from tether.core.step import (
    FilterStep,
    GlobalStep,
    MapStep,
    OnError,
    Outcome,
    SourceStep,
    Step,
    Verdict,
)

__all__ = [
    "FilterStep",
    "GlobalStep",
    "MapStep",
    "OnError",
    "Outcome",
    "SourceStep",
    "Step",
    "StepContext",
    "Verdict",
    "register",
]
