"""Pipeline configuration: YAML and Python go through the same pydantic models.

A config::

    name: quickstart
    llm:
      default: {backend: openai, model: my-model, base_url: http://localhost:8000/v1, api_key_env: OPENAI_API_KEY}
    steps:
      - read: {path: docs/}
      - grounded_qa: {llm: default, per_chunk: 2}
      - dedup: {method: minhash, threshold: 0.8}

Each step entry is a one-key mapping ``{step_type: {field: value}}``. Unknown keys anywhere are
errors naming the path of the bad field (``steps[2].dedup.threshhold``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tether.core.rundir import name_problem
from tether.core.step import Step
from tether.core.validation import _loc, format_validation_error  # noqa: F401 - re-exported
from tether.embed.config import EmbedderConfig
from tether.errors import ConfigError
from tether.llm.config import LLMConfig
from tether.pipeline.registry import get_step_class, load_plugins


class ExportConfig(BaseModel):
    """What goes in ``dataset/``: the last step's kept records, in these formats."""

    model_config = ConfigDict(extra="forbid")

    formats: list[str] = Field(default_factory=lambda: ["parquet", "jsonl"])
    keep_lineage: bool = True


class PipelineConfig(BaseModel):
    """A whole pipeline: its name, models, steps and run options."""

    model_config = ConfigDict(extra="forbid")

    name: str = "pipeline"
    seed: int = 0
    batch_size: int = Field(256, ge=1)
    llm: dict[str, LLMConfig] = Field(default_factory=dict)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    plugins: list[str] = Field(default_factory=list)
    steps: list[dict[str, dict[str, Any] | None]] = Field(min_length=1)
    export: ExportConfig = Field(default_factory=ExportConfig)
    audit: dict[str, Any] | None = None
    card: dict[str, Any] | None = None
    """What the dataset card states that a run cannot know (license, intended use); see lineage.md."""

    @field_validator("name")
    @classmethod
    def _folder_name(cls, v: str) -> str:
        # the run directory defaults to runs/NAME
        problem = name_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v




def build_steps(config: PipelineConfig) -> list[Step]:
    """Turn the config's step entries into step objects, with unique instance names."""
    load_plugins(config.plugins)
    steps: list[Step] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(config.steps):
        if len(entry) != 1:
            raise ConfigError(
                f"steps[{i}] must be a one-key mapping {{step_type: {{...}}}}, got keys {sorted(entry)}",
                hint="write each step as `- dedup: {threshold: 0.8}`",
            )
        (type_name, params), = entry.items()
        try:
            cls = get_step_class(type_name)
        except ConfigError as exc:
            raise ConfigError(f"steps[{i}]: {exc.message}", hint=exc.hint) from None
        try:
            step = cls.model_validate(params or {})
        except ValidationError as exc:
            raise format_validation_error(exc, prefix=f"steps[{i}].{type_name}") from None
        name = step.instance_name
        problem = name_problem(name)
        if problem is not None:
            field = f"steps[{i}].{type_name}.name"
            raise ConfigError(
                f"bad value for '{field}': {problem}",
                hint=f"rename the step, e.g. name: {_tidy_name(name, type_name)}",
            )
        if name in seen:
            if step.name is not None:
                raise ConfigError(f"steps[{i}]: step name '{name}' is used twice", hint="give each step a unique name")
            seen[name] += 1
            step.name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        steps.append(step)
    step_inputs(steps)  # every input named is an earlier step
    return steps


def step_inputs(steps: list[Step]) -> list[list[str]]:
    """The names of the steps each step reads: its ``from:``, or the step before it (none for
    the first). Only earlier steps can be named, so the pipeline is a graph without cycles."""
    out: list[list[str]] = []
    names = [s.instance_name for s in steps]
    for i, step in enumerate(steps):
        if step.inputs is None:
            out.append([names[i - 1]] if i > 0 else [])
            continue
        if step.kind == "source":
            raise ConfigError(f"steps[{i}].{step.type}.from: a source step reads no other step",
                              hint="drop from: on the source step")
        if not step.inputs:
            raise ConfigError(f"steps[{i}].{step.type}.from: names no step", hint="name one or more earlier steps")
        for name in step.inputs:
            if name not in names[:i]:
                later = name in names
                raise ConfigError(
                    f"steps[{i}].{step.type}.from: '{name}' is "
                    + ("a later step: a step reads only steps before it" if later else "not a step of this pipeline")
                    + f" (earlier steps: {', '.join(names[:i]) or 'none'})",
                    hint="name an earlier step by its name (name: or its type)",
                )
        out.append(list(step.inputs))
    return out


def _tidy_name(name: str, fallback: str) -> str:
    """A usable step name close to ``name``, for the hint."""
    import re

    tidy = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")[:100]
    return tidy if name_problem(tidy) is None else (fallback if name_problem(fallback) is None else "step1")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``step.param=value`` to (path, value); the value is read as YAML (numbers, lists...)."""
    if "=" not in text:
        raise ConfigError(f"--set '{text}' is not KEY=VALUE", hint="e.g. --set dedup.threshold=0.9")
    key, value = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"--set '{text}' has an empty key")
    try:
        parsed = yaml.safe_load(value) if value != "" else ""
    except yaml.YAMLError:
        parsed = value
    return path, parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw config. ``STEP.param`` addresses a step by its
    name or type; anything else is a top-level path (``llm.default.model=x``)."""
    for text in overrides:
        path, value = parse_override(text)
        steps = raw.get("steps") or []
        target = None
        for entry in steps:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            (tname, params), = entry.items()
            params = params or {}
            if params.get("name", tname) == path[0] or (tname == path[0] and "name" not in params):
                entry[tname] = params
                target = params
                break
        if target is not None and len(path) > 1:
            node = target
            rest = path[1:]
        else:
            if path[0] not in PipelineConfig.model_fields:
                names = [next(iter(e)) for e in steps if isinstance(e, dict) and e]
                raise ConfigError(
                    f"--set {text}: '{path[0]}' is neither a step of this pipeline nor a top-level key",
                    hint=f"steps here: {', '.join(names)}",
                )
            node = raw
            rest = path
        for part in rest[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text}: '{part}' is not a mapping")
        node[rest[-1]] = value
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> tuple[PipelineConfig, Path]:
    """Read and validate a pipeline YAML; returns the config and the folder it lives in."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"pipeline file '{path}' does not exist", hint="give the path of a pipeline YAML")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text", hint="save the pipeline as UTF-8") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: a pipeline must be a YAML mapping with a 'steps' list")
    raw = apply_overrides(raw, list(overrides or []))
    return config_from_dict(raw), p.resolve().parent


def config_from_dict(raw: dict[str, Any]) -> PipelineConfig:
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise format_validation_error(exc) from None
    build_steps(config)  # validates every step's fields now
    from tether.pipeline.hooks import validate_sections

    validate_sections(config)
    return config


__all__ = [
    "ExportConfig",
    "PipelineConfig",
    "apply_overrides",
    "build_steps",
    "config_from_dict",
    "format_validation_error",
    "load_config",
    "parse_override",
]
