"""The step registry and its catalog.

Steps register with :func:`tether.core.registry.register` (re-exported here). Built-in steps
live in the packages :func:`load_builtins` imports, each of which imports its step modules in
its ``__init__``; third-party steps come from the ``tether.steps`` entry-point group or a
pipeline's ``plugins:`` list of modules.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from tether.core.registry import _REGISTRY, register
from tether.core.step import Step
from tether.errors import ConfigError

log = logging.getLogger(__name__)


#: entry-point plugins that failed to import: "NAME (MODULE)" -> the error.
_FAILED: dict[str, str] = {}
_loaded = False


def load_builtins() -> None:
    """Import the built-in step packages (explicitly: each registers its steps on import) and
    the entry-point plugins, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import tether.audit
    import tether.curate
    import tether.generate
    import tether.io
    import tether.lineage.steps
    import tether.pipeline.builtins  # noqa: F401 - imported for the steps they register
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


__all__ = ["StepInfo", "catalog", "get_step_class", "load_builtins", "load_plugins", "register"]
