"""The ``prompt`` recipe: a Jinja template over the record's columns (sampled attributes,
input columns), zero-shot or few-shot, ``n`` outputs per prompt, optional structured output.

Example (YAML)::

    - sample: {n: 50, attributes: {topic: {categories: [tides, volcanoes]}, level: {categories: [child, expert]}}}
    - prompt:
        template: "Write a question a {{ level }} might ask about {{ topic }}."
        n: 2
        output_column: question
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from tether.core.registry import register
from tether.core.step import MapStep, Outcome
from tether.generate._private import (
    LLMFields,
    Template,
    load_template,
    make_child,
    model_from_fields,
    read_seed_rows,
)
from tether.records import ID, Record, digest, payload

if TYPE_CHECKING:
    from tether.core.context import StepContext


SchemaType = type[BaseModel]  # an alias: the `type` field of a step shadows the builtin in its body


@register
class Prompt(MapStep, LLMFields):
    """Render a template per record and ask the model; keep the record's columns plus the answer."""

    type: ClassVar[str] = "prompt"
    description: ClassVar[str] = (
        "Render a Jinja template over each record (zero- or few-shot) and keep n answers, "
        "as text or structured fields."
    )

    template: str | None = None
    """The prompt template (Jinja, variables are the record's columns and ``examples``)."""
    template_file: str | None = None
    """A file holding the template, instead of ``template``. Default: prompts/prompt.j2
    (renders few-shot examples, then the ``instruction`` column)."""
    system: str | None = None
    """A system prompt (also a template)."""
    n: int = Field(1, ge=1)
    """Answers per prompt; each becomes a record."""
    output_column: str = "response"
    """Where the answer text goes."""
    output_schema: dict[str, str] | None = None
    """Ask for structured output: ``{field: type}`` (str, int, float, bool, list[str]); the
    fields become columns."""
    examples_file: str | None = None
    """A seed file of examples for few-shot prompts (JSONL/CSV/JSON/Parquet)."""
    k: int = Field(0, ge=0)
    """Examples drawn per request from ``examples_file``."""
    max_attempts: int = Field(3, ge=1)
    """Tries for a valid structured answer before the record is quarantined/raised."""

    _tpl: Template | None = PrivateAttr(default=None)
    _sys: Template | None = PrivateAttr(default=None)
    _examples: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _schema: SchemaType | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> Prompt:
        if self.k and not self.examples_file:
            raise ValueError("k > 0 needs examples_file")
        if self.template is not None and self.template_file is not None:
            raise ValueError("give template or template_file, not both")
        if self.output_schema is not None:
            model_from_fields("Output", self.output_schema)
        return self

    def input_columns(self) -> set[str]:
        """The record columns the template (and system prompt) read. A ``template_file`` is
        parsed when its path resolves without the pipeline's folder (absolute, or relative to
        the working directory); otherwise its variables are checked when the step renders."""
        file = self.template_file
        if file is not None and not Path(file).expanduser().is_file():
            return set()
        tpl = load_template("prompt.j2", self.template, None if file is None else str(Path(file).expanduser()), None)
        names = tpl.variables()
        if self.system:
            names |= Template(self.system, "system").variables()
        return names - {"examples"}

    def output_columns(self) -> set[str]:
        return set(self.output_schema) if self.output_schema else {self.output_column}

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        from tether.io._private import file_sha256

        out = {}
        for f in (self.template_file, self.examples_file):
            if f is not None and ctx.resolve(f).exists():
                out[f] = file_sha256(ctx.resolve(f))
        return out or None

    def setup(self, ctx: StepContext) -> None:
        self._tpl = load_template("prompt.j2", self.template, self.template_file, ctx)
        self._sys = Template(self.system, "system") if self.system else None
        if self.examples_file:
            self._examples = read_seed_rows(ctx.resolve(self.examples_file), "examples_file")
        if self.output_schema:
            self._schema = model_from_fields("Output", self.output_schema)

    def _draw_examples(self, record: Record, ctx: StepContext) -> list[dict[str, Any]]:
        if not self.k:
            return []
        rng = ctx.rng(f"examples:{record.get(ID)}")
        return rng.sample(self._examples, min(self.k, len(self._examples)))

    async def amap(self, record: Record, ctx: StepContext) -> Outcome:
        if self._tpl is None:
            self.setup(ctx)
        assert self._tpl is not None
        examples = self._draw_examples(record, ctx)
        values = {**payload(record), "examples": examples}
        prompt = self._tpl.render(self.instance_name, **values)
        system = self._sys.render(self.instance_name, **values) if self._sys else None
        client = ctx.llm(self.llm)
        base = payload(record)
        parents = [record[ID]] + [digest(e) for e in examples]
        template_hash = digest([self._tpl.hash, self._sys.hash if self._sys else None])
        out = Outcome()
        if self._schema is None:
            req = self.request(prompt, system=system, n=self.n, sample_of=record.get(ID))
            resp = await client.generate(req, record_id=record.get(ID))
            for j, text in enumerate(resp.texts):
                data = {**base, self.output_column: text}
                out.kept.append(make_child(self, parents, data, ctx, recipe="prompt", model=client.model_identity,
                                           template_hash=template_hash, prompt_hash=resp.request_hash, salt=j))
            return out
        for j in range(self.n):
            # each sample is its own call with its own seed, so the cache keeps them apart
            seed = (self.llm_seed or 0) + j if (j or self.llm_seed is not None) else None
            req = self.request(prompt, system=system, n=1, seed=seed, sample_of=record.get(ID))
            obj, resp = await client.generate_structured(req, self._schema, record_id=record.get(ID),
                                                         max_attempts=self.max_attempts)
            data = {**base, **obj.model_dump()}
            out.kept.append(make_child(self, parents, data, ctx, recipe="prompt", model=client.model_identity,
                                       template_hash=template_hash, prompt_hash=resp.request_hash, salt=j))
        return out




__all__ = ["Prompt"]
