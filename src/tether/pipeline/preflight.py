"""Checks made before anything runs: what ``tether validate`` reports, each problem with the
place in the YAML it comes from.

- every path a source step reads exists;
- every column a step reads exists at that point of the pipeline (from the input's first rows);
- every LLM a step names (``llm:``, ``judge_llm:``) is defined in the ``llm`` section, and the
  environment variable its ``api_key_env`` names is set;
- every export format is known, and the final records have the columns it needs;
- every file the ``audit`` section names exists;
- every optional package a step declares (``Step.requires``), or its LLM backend imports, is
  installed.

Example:
    >>> problems = preflight(pipe.config, pipe.steps, pipe.base_dir)  # doctest: +SKIP
    >>> [p.line() for p in problems]  # doctest: +SKIP
    ["steps[1].prompt.llm: step prompt names llm 'techer', which the llm section does not define ..."]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tether.core.context import StepContext
from tether.core.step import SourceStep, Step
from tether.errors import ConfigError, InputError, TetherError

if TYPE_CHECKING:
    from tether.pipeline.config import PipelineConfig

#: columns that give a record a conversation, in the export's order of preference.
CONVERSATION = (
    ("messages",), ("instruction", "response"), ("instruction", "output"), ("question", "answer"),
    ("prompt", "completion"), ("prompt", "response"),
)

#: export format -> the column sets, any one of which fills it (see tether.lineage.export).
FORMAT_NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "chat": CONVERSATION,
    "sharegpt": CONVERSATION,
    "alpaca": CONVERSATION,
    "preference": (("prompt", "chosen", "rejected"), ("instruction", "chosen", "rejected"),
                   ("question", "chosen", "rejected")),
    "text": (("text",), *CONVERSATION),
}

#: what a format suggests when the records cannot fill it.
FORMAT_HINTS = {
    "preference": "preference pairs come from distill with preference: judge, or preference_pairs",
}


@dataclass(frozen=True)
class Problem:
    """One thing that stops the pipeline from running as written."""

    where: str
    """The path of the YAML key it comes from (``steps[1].prompt.llm``)."""
    message: str
    hint: str | None = None
    error: type[TetherError] = ConfigError
    """The error a run raises for it."""
    run_too: bool = True
    """Whether ``Pipeline.run`` stops on it too (else only ``validate`` reports it)."""

    def line(self) -> str:
        return f"{self.where}: {self.message}"

    def raise_(self) -> None:
        raise self.error(self.line(), hint=self.hint)


def _where(i: int, step: Step) -> str:
    return f"steps[{i}].{step.type}"


def _ctx(step: Step, config: PipelineConfig, base_dir: Path) -> StepContext:
    return StepContext(step_name=step.instance_name, run_id="check", base_dir=base_dir, seed=config.seed,
                       batch_size=config.batch_size)


def _input_paths(i: int, step: Step, ctx: StepContext) -> list[Problem]:
    value = getattr(step, "path", None) if "path" in type(step).model_fields else None
    paths = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
    out = []
    for j, raw in enumerate(paths):
        if not isinstance(raw, str):
            continue
        p = ctx.resolve(raw)
        if not p.exists():
            where = f"{_where(i, step)}.path" + (f"[{j}]" if isinstance(value, list) else "")
            shown = "" if str(p) == raw else f" (resolved to {p})"
            out.append(Problem(where, f"input '{raw}' does not exist{shown}",
                               hint="fix the path (relative paths start at the pipeline file's folder) or create "
                               "the file", error=InputError))
    return out


def _columns(steps: Sequence[Step], config: PipelineConfig, base_dir: Path,
             paths_ok: bool) -> tuple[list[Problem], set[str] | None, list[str]]:
    """Problems of the columns each step reads, the final records' columns (None: unknown),
    and notes on what could not be checked."""
    from tether.pipeline.config import step_inputs

    problems: list[Problem] = []
    notes: list[str] = []
    available: set[str] | None = None
    cols_of: dict[str, set[str] | None] = {}  # step name -> its records' columns (None: unknown)
    inputs = step_inputs(list(steps))
    for i, step in enumerate(steps):
        if i and inputs[i]:  # a step reading several steps has the columns they all have
            ins = [cols_of.get(n) for n in inputs[i]]
            available = None if any(c is None for c in ins) else set.intersection(*[c for c in ins if c is not None])
        ctx = _ctx(step, config, base_dir)
        if isinstance(step, SourceStep):
            if i != 0:
                problems.append(Problem(_where(i, step), f"step {step.instance_name} is a source step; it must come first",
                                        hint="a pipeline starts with one read step"))
                continue
            peek = getattr(step, "peek_columns", None)
            cols = peek(ctx) if (peek is not None and paths_ok) else None
            if cols is None and peek is not None and paths_ok:
                problems.append(Problem(
                    _where(i, step), "the input's columns cannot be read, so no step's columns can be checked",
                    hint="check the input's format (format:) and its first rows; `tether run` shows the read error",
                    error=InputError, run_too=False))
            elif cols is None and peek is None:
                notes.append(f"{_where(i, step)}: step {step.instance_name} cannot say its columns before it runs; "
                             "the columns later steps read are checked when they run")
            available = None if cols is None else (cols | step.output_columns())
            cols_of[step.instance_name] = available
            continue
        if i == 0:
            problems.append(Problem(_where(i, step), f"the first step ({step.instance_name}) is a {step.kind} step; "
                                    "a pipeline starts with a source", hint="add `- read: {path: ...}` first"))
        resolved = step.with_resolved_files(base_dir)  # files named relative to the pipeline (a rubric)
        need = resolved.input_columns()
        if available is not None and not need <= available:
            missing = ", ".join(sorted(need - available))
            problems.append(Problem(
                _where(i, step),
                f"step {step.instance_name} reads column(s) {missing}, but the records at that point have: "
                f"{', '.join(sorted(available)) or 'none'}",
                hint="map a column on the read step (text_field: or rename:), or fix the step's field names"))
        removed = step.removed_columns()
        if available is not None:
            available = (set() if "*" in removed else available - removed) | resolved.output_columns()
        cols_of[step.instance_name] = available
    if steps:  # the final records are the last step's
        available = cols_of.get(steps[-1].instance_name)
    return problems, available, notes


def _llms(steps: Sequence[Step], config: PipelineConfig) -> list[Problem]:
    """Every LLM a step names is defined, and the variable holding its API key is set."""
    problems: list[Problem] = []
    used: dict[str, str] = {}  # llm name -> the first step field naming it
    known = sorted(config.llm)
    for i, step in enumerate(steps):
        for field in type(step).model_fields:
            if field != "llm" and not field.endswith("_llm"):
                continue
            name = getattr(step, field)
            if not isinstance(name, str):
                continue
            where = f"{_where(i, step)}.{field}"
            if name not in config.llm:
                problems.append(Problem(
                    where, f"step {step.instance_name} names llm '{name}', which the llm section does not define "
                    f"(it defines: {', '.join(known) or 'none'})",
                    hint=(f"name one of {', '.join(known)}, or " if known else "")
                    + f"add llm: {{{name}: {{backend: ..., model: ...}}}} to the pipeline"))
            else:
                used.setdefault(name, where)
    for name, where in used.items():
        env = config.llm[name].api_key_env
        if env and config.llm[name].backend == "openai" and not os.environ.get(env):  # the one backend with a key
            problems.append(Problem(
                f"llm.{name}.api_key_env",
                f"environment variable {env} is not set (llm '{name}', used by {where}, reads its API key from it)",
                hint=f"export {env}=... before the run, or drop api_key_env for a server that needs no key"))
    return problems


#: what an LLM backend imports when it starts: module -> what to install
BACKEND_NEEDS: dict[str, dict[str, str]] = {
    "transformers": {"torch": "pip install 'tether[ml]' (install torch==2.13.0 first)",
                     "transformers": "pip install 'tether[ml]'"},
    "vllm": {"vllm": "pip install 'tether[vllm]' (on a machine with a CUDA GPU), or use backend: transformers"},
}


def _installed(module: str) -> bool:
    import importlib.util
    import sys

    if module in sys.modules:  # imported already (or provided by the caller)
        return True
    try:
        return importlib.util.find_spec(module) is not None  # finds, never imports
    except (ImportError, ValueError):
        return False


def _dependencies(steps: Sequence[Step], config: PipelineConfig) -> list[Problem]:
    """The optional packages each step declares (``Step.requires``), and those of the LLM
    backends the steps use, are installed: a missing one is found now, not when the step that
    needs it starts after the steps before it have run (and been paid for)."""
    problems: list[Problem] = []
    for i, step in enumerate(steps):
        for module, install in step.required_modules().items():
            if not _installed(module):
                problems.append(Problem(_where(i, step), f"step {step.instance_name} needs the Python package "
                                        f"'{module}', which is not installed", hint=install))
    backends: dict[str, str] = {}
    for step in steps:
        for field in type(step).model_fields:
            name = getattr(step, field) if field == "llm" or field.endswith("_llm") else None
            if isinstance(name, str) and name in config.llm:
                backends.setdefault(name, config.llm[name].backend)
    for name, backend in backends.items():
        for module, install in BACKEND_NEEDS.get(backend, {}).items():
            if not _installed(module):
                problems.append(Problem(f"llm.{name}.backend", f"backend {backend} (llm '{name}') needs the Python "
                                        f"package '{module}', which is not installed", hint=install))
    return problems


def _audit_files(config: PipelineConfig, base_dir: Path) -> list[Problem]:
    """The files the ``audit`` section names exist (else the audit fails after every step ran)."""
    from tether.pipeline.hooks import AUDIT_INPUTS

    problems: list[Problem] = []
    for key in AUDIT_INPUTS:
        raw = (config.audit or {}).get(key)
        if not isinstance(raw, str):
            continue
        p = Path(raw).expanduser()
        p = p if p.is_absolute() else base_dir / p
        if not p.exists():
            shown = "" if str(p) == raw else f" (resolved to {p})"
            problems.append(Problem(f"audit.{key}", f"'{raw}' does not exist{shown}",
                                    hint="fix the path (relative paths start at the pipeline file's folder) or "
                                    "create the file", error=InputError))
    return problems


def _formats(config: PipelineConfig, final: set[str] | None) -> list[Problem]:
    """Every export format is known and, when the final columns are known, can be filled."""
    from tether.lineage.export import parse_format

    problems: list[Problem] = []
    for j, spec in enumerate(config.export.formats):
        where = f"export.formats[{j}]"
        if spec in ("parquet", "jsonl"):
            continue
        try:
            name, _ = parse_format(spec)
        except ConfigError as exc:
            problems.append(Problem(where, exc.message, hint=exc.hint))
            continue
        needs = FORMAT_NEEDS.get(name)
        if needs is None or final is None or any(set(alt) <= final for alt in needs):
            continue
        wanted = " or ".join("+".join(alt) for alt in needs)
        hint = FORMAT_HINTS.get(name, "")
        problems.append(Problem(
            where, f"export format '{spec}' needs columns {wanted}, but the last step's records have: "
            f"{', '.join(sorted(final)) or 'none'}",
            hint=(f"{hint}; " if hint else "") + "rename columns with a select step, add a step that writes them, "
            "or drop the format", error=ConfigError))
    return problems


def preflight(config: PipelineConfig, steps: Sequence[Step], base_dir: Path) -> tuple[list[Problem], list[str]]:
    """Every problem found before anything runs, in the order of the YAML, and notes on what
    could not be checked.

    Args:
        config: the pipeline's config.
        steps: its steps (``build_steps(config)``).
        base_dir: the pipeline file's folder (where relative paths start).
    """
    problems: list[Problem] = []
    if steps and isinstance(steps[0], SourceStep):
        problems += _input_paths(0, steps[0], _ctx(steps[0], config, base_dir))
    column_problems, final, notes = _columns(steps, config, base_dir, paths_ok=not problems)
    problems += column_problems
    problems += _llms(steps, config)
    problems += _dependencies(steps, config)
    problems += _formats(config, final)
    problems += _audit_files(config, base_dir)
    return problems, notes


def check_before_run(config: PipelineConfig, steps: Sequence[Step], base_dir: Path) -> None:
    """Raise the first problem :func:`preflight` finds that a run would stop on anyway, before
    any step runs (and before any LLM call is paid for)."""
    problems, _ = preflight(config, steps, base_dir)
    for p in problems:
        if p.run_too:
            p.raise_()


__all__ = ["BACKEND_NEEDS", "FORMAT_NEEDS", "Problem", "check_before_run", "preflight"]
