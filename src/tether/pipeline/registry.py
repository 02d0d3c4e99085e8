"""The step registry and its catalog.

Steps register with :func:`register`. Built-in steps live in the packages of
:data:`BUILTIN_PACKAGES`, each of which imports its step modules in its ``__init__``;
third-party steps come from the ``tether.steps`` entry-point group or a pipeline's
``plugins:`` list of modules.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeVar

from tether.errors import ConfigError
from tether.pipeline.step import Step

log = logging.getLogger(__name__)

BUILTIN_PACKAGES = (
    "tether.io",
    "tether.pipeline.builtins",
    "tether.generate",
    "tether.curate",
    "tether.audit",
    "tether.lineage",
)

_REGISTRY: dict[str, type[Step]] = {}
_loaded = False
#: entry-point plugins that failed to import: "NAME (MODULE)" -> the error.
_FAILED: dict[str, str] = {}

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


def load_builtins() -> None:
    """Import built-in step packages and entry-point plugins (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for pkg in BUILTIN_PACKAGES:
        try:
            importlib.import_module(pkg)
        except ModuleNotFoundError as exc:
            if exc.name != pkg:
                raise
    for ep in entry_points(group="tether.steps"):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - reported by get_step_class and catalog
            label = f"'{ep.name}' ({ep.value})"
            _FAILED[label] = f"{type(exc).__name__}: {exc}"
            log.warning("step plugin %s failed to import: %s", label, _FAILED[label])


def _plugin_failures() -> str:
    """``step plugin 'NAME' (MODULE) failed to import: ERROR; ...`` for every broken plugin."""
    return "; ".join(f"step plugin {label} failed to import: {err}" for label, err in _FAILED.items())


def load_plugins(modules: list[str]) -> None:
    """Import the modules a pipeline lists under ``plugins:`` (they register steps)."""
    for mod in modules:
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise ConfigError(
                f"plugin module '{mod}' cannot be imported: {type(exc).__name__}: {exc}",
                hint="check the module name and that its folder is on PYTHONPATH",
            ) from exc
        except Exception as exc:  # an error raised while the module runs: still the plugin's
            raise ConfigError(
                f"plugin module '{mod}' cannot be imported: {type(exc).__name__}: {exc}",
                hint="fix the error in the plugin module (`python -c 'import MODULE'` shows the traceback)",
            ) from exc


def get_step_class(type_name: str) -> type[Step]:
    load_builtins()
    try:
        return _REGISTRY[type_name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(type_name, list(_REGISTRY), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        if _FAILED:  # the step may be one of theirs
            raise ConfigError(
                f"unknown step '{type_name}': {_plugin_failures()}",
                hint=f"{hint}fix or reinstall the plugin (`python -c 'import MODULE'` shows the traceback)",
            ) from None
        raise ConfigError(
            f"unknown step '{type_name}'", hint=f"{hint}`tether steps` lists every step"
        ) from None


def _type_name(ann: Any) -> str:
    """A readable name for a field's type: ``raise|skip|quarantine``, ``list[str]``, ``int | None``."""
    import typing

    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(ann))
    text = str(ann) if origin is not None else getattr(ann, "__name__", str(ann))
    return text.replace("typing.", "").replace("NoneType", "None")


@dataclass(frozen=True)
class StepInfo:
    type: str
    kind: str
    description: str
    fields: list[tuple[str, str, Any, str]]  # name, type, default, doc


def catalog() -> list[StepInfo]:
    """Every registered step with its config fields, for ``tether steps``.

    Raises:
        ConfigError: a step plugin failed to import (the list would leave its steps out).
    """
    load_builtins()
    if _FAILED:
        raise ConfigError(_plugin_failures(),
                          hint="fix or reinstall the plugin (`python -c 'import MODULE'` shows the traceback)")
    out = []
    for name in sorted(_REGISTRY):
        cls = _REGISTRY[name]
        fields = []
        for fname, f in cls.model_fields.items():
            tname = _type_name(f.annotation)
            default = None if f.is_required() else f.get_default(call_default_factory=True)
            fields.append((fname, tname, "(required)" if f.is_required() else default, f.description or ""))
        out.append(StepInfo(name, cls.kind, cls.description, fields))
    return out


__all__ = ["BUILTIN_PACKAGES", "StepInfo", "catalog", "get_step_class", "load_builtins", "load_plugins", "register"]
