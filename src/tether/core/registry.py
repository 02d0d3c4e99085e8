"""The step registry: :func:`register` makes a step usable by its ``type`` in pipelines.

Only the table and the decorator live here, below every package that defines steps; loading
the built-in packages, plugins and the catalog belong to the executor
(:mod:`tether.pipeline.registry`).
"""

from __future__ import annotations

from typing import TypeVar

from tether.core.step import Step

_REGISTRY: dict[str, type[Step]] = {}

S = TypeVar("S", bound=type[Step])


def register(cls: S) -> S:
    """Class decorator: make a step usable by its ``type`` in pipelines."""
    if not cls.type:
        raise TypeError(f"{cls.__name__} has no type name")
    other = _REGISTRY.get(cls.type)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise TypeError(f"step type '{cls.type}' is registered twice: {other.__module__} and {cls.__module__}")
    _REGISTRY[cls.type] = cls
    return cls


__all__ = ["register"]
