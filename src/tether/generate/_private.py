"""Helpers shared by the recipes: templates, request building, fencing of untrusted text,
lineage arguments, structured-output models from a config, and the on_error policy of
global steps."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.meta
from pydantic import BaseModel, ConfigDict, Field, create_model

from tether.core.step import Outcome, Step
from tether.errors import ConfigError, InputError, LLMResponseError
from tether.llm.types import LLMRequest
from tether.records import ID, Record, child, digest
from tether.text import fence_tag, wrap

if TYPE_CHECKING:
    from tether.core.context import StepContext

log = logging.getLogger(__name__)

PROMPTS = Path(__file__).parent / "prompts"

_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False, trim_blocks=True,
    lstrip_blocks=True,
)


class Template:
    """A Jinja template with its hash; a missing variable is a :class:`ConfigError` naming it.

    Example:
        >>> Template("Hi {{ name }}", "inline").render("s", name="Ann")
        'Hi Ann'
    """

    def __init__(self, source: str, label: str) -> None:
        self.source = source
        self.label = label
        self.hash = digest(source)
        try:
            self._tpl = _ENV.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"template {label}:{exc.lineno}: {exc.message}") from None

    def variables(self) -> set[str]:
        """Names the template reads from its context."""
        return set(jinja2.meta.find_undeclared_variables(_ENV.parse(self.source)))

    def render(self, step: str, **values: Any) -> str:
        try:
            return self._tpl.render(**values).strip()
        except jinja2.UndefinedError as exc:
            have = ", ".join(sorted(values)) or "none"
            m = re.search(r"'([^']+)' is undefined", exc.message or "")
            what = f"variable '{m.group(1)}'" if m else (exc.message or "an undefined variable")
            raise ConfigError(
                f"step {step}: template {self.label} uses {what}, which is missing (variables available: {have})",
                hint="add the column to the records, or fix the variable name in the template",
            ) from None


def default_template(name: str) -> Template:
    path = PROMPTS / name
    return Template(path.read_text(encoding="utf-8"), f"{name} (default)")


def load_template(
    default: str, inline: str | None, file: str | None, ctx: StepContext | None, field: str = "template"
) -> Template:
    """The step's template: inline text, a file (relative to the pipeline), or the default."""
    if inline is not None and file is not None:
        raise ConfigError(f"give {field} or {field}_file, not both")
    if inline is not None:
        return Template(inline, f"{field} (inline)")
    if file is not None:
        path = ctx.resolve(file) if ctx is not None else Path(file)
        if not path.is_file():
            raise ConfigError(f"{field}_file '{file}' does not exist", hint=f"looked for {path}")
        return Template(path.read_text(encoding="utf-8"), str(file))
    return default_template(default)


def file_digests(step: Step, ctx: StepContext) -> dict[str, str] | None:
    """SHA-256 digests of the files a step's ``*_file`` fields name (templates, principles,
    examples), for its fingerprint: editing such a file makes the step run again."""
    from tether.io._private import file_sha256

    out = {}
    for name in sorted(type(step).model_fields):
        value = getattr(step, name)
        if name.endswith("_file") and isinstance(value, str):
            path = ctx.resolve(value)
            if path.is_file():
                out[name] = file_sha256(path)
    return out or None


def fence(text: str, ctx: StepContext, salt: str) -> tuple[str, str]:
    """Wrap untrusted ``text`` in randomised delimiters; returns (tag, fenced text)."""
    tag = fence_tag(ctx, salt)
    return tag, wrap(text, tag)


class LLMFields(BaseModel):
    """Fields every LLM recipe takes."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    llm: str = "default"
    """The name of the model in the pipeline's llm section."""
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    """Sampling temperature."""
    max_tokens: int = Field(1024, ge=1)
    """Most tokens per answer."""
    llm_seed: int | None = None
    """A sampling seed passed to the backend (where it supports one)."""

    def request(self, prompt: str, *, system: str | None = None, n: int = 1, sample_of: str | None = None,
                **params: Any) -> LLMRequest:
        """A chat request with the step's sampling parameters. ``sample_of`` (the record's id)
        gives a sampled request (temperature above 0) a cache key of its own, so two records
        that render the same prompt get two samples, not one answer twice; a rerun finds both."""
        base: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens, "n": n,
                                "seed": self.llm_seed}
        base.update(params)
        if sample_of is not None and float(base["temperature"]) > 0:
            base["sample_key"] = sample_of
        return LLMRequest.chat(prompt, system=system, **base)


def params_hash(step: Step) -> str:
    """A hash of the step's generation parameters (its config less its name)."""
    return digest(step.model_dump(mode="json", exclude={"name", "on_error"}))


def make_child(
    step: Step,
    parents: Record | Sequence[Record] | Sequence[str],
    data: dict[str, Any],
    ctx: StepContext,
    *,
    recipe: str,
    model: str | None,
    template_hash: str | None,
    prompt_hash: str | None,
    salt: Any = None,
) -> Record:
    """A generated record with full lineage. ``salt`` (e.g. a sample index) keeps ids distinct
    when two samples of one prompt come out the same."""
    plist = [parents] if isinstance(parents, dict) else list(parents)
    parent_ids = [p[ID] if isinstance(p, dict) else str(p) for p in plist]
    rid = digest({"parents": parent_ids, "step": step.instance_name, "data": data, "salt": salt})
    return child(
        [{ID: pid} for pid in parent_ids] if parent_ids else [],
        data,
        id=rid,
        step=step.instance_name,
        recipe=recipe,
        model=model,
        template_hash=template_hash,
        prompt_hash=prompt_hash,
        params_hash=params_hash(step),
        run_id=ctx.run_id,
    )


_TYPES: dict[str, Any] = {
    "str": str, "int": int, "float": float, "bool": bool, "list[str]": list[str], "list[int]": list[int],
    "list[float]": list[float],
}


def model_from_fields(name: str, fields: dict[str, str]) -> type[BaseModel]:
    """A pydantic model from ``{field: type name}`` (str, int, float, bool, list[str], ...)."""
    spec: dict[str, Any] = {}
    for fname, tname in fields.items():
        if tname not in _TYPES:
            raise ConfigError(
                f"output_schema field '{fname}' has unknown type '{tname}'",
                hint=f"use one of: {', '.join(_TYPES)}",
            )
        spec[fname] = (_TYPES[tname], ...)
    return create_model(name, __config__=ConfigDict(extra="forbid"), **spec)


def read_seed_rows(path: Path, what: str) -> list[dict[str, Any]]:
    """Rows of a seed file (JSONL/JSON/CSV/Parquet; a .txt gives one ``text`` row a line)."""
    from tether.io.readers import read_rows

    if not path.exists():
        raise InputError(f"{what} '{path}' does not exist", hint="paths are relative to the pipeline file")
    if path.suffix.lower() == ".txt":
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        rows = [{"text": ln} for ln in lines if ln]
    else:
        rows = []
        for row in read_rows(path, "auto"):
            if row.error is not None:
                raise row.error
            assert row.data is not None
            rows.append(row.data)
    if not rows:
        raise InputError(f"{what} '{path}' has no rows")
    return rows


def apply_policy(step: Step, exc: BaseException, record: Record, out: Outcome) -> None:
    """The ``on_error`` policy for steps that run their own loop (global steps): the step's
    :meth:`~tether.core.step.Step.error_outcome`, added to ``out``."""
    out.extend(step.error_outcome(exc, record))


def is_unparseable(exc: BaseException) -> bool:
    return isinstance(exc, LLMResponseError)


__all__ = [
    "LLMFields",
    "PROMPTS",
    "Template",
    "apply_policy",
    "default_template",
    "fence",
    "fence_tag",
    "file_digests",
    "is_unparseable",
    "load_template",
    "make_child",
    "model_from_fields",
    "params_hash",
    "read_seed_rows",
    "wrap",
]
