"""``refine``: generate, critique against principles (a constitution), revise; up to
``max_rounds`` rounds, stopping early when the critique finds nothing to fix.

Every response is a record in lineage: the first one (round 0) and each revision (round k),
each the child of the one before, with the prompt hash of the call that wrote it. The last one
is kept; earlier ones go to the rejected set as ``superseded_round``. The kept record also has
every round's critique, revision and prompt hashes in ``refine_rounds``.

Example (YAML)::

    - read: {path: prompts.jsonl}
    - refine: {principles_file: constitution.yaml, max_rounds: 2}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from tether.core.registry import register
from tether.core.step import MapStep, Outcome, Verdict
from tether.errors import ConfigError
from tether.generate._private import (
    PROMPTS,
    LLMFields,
    Template,
    file_digests,
    load_template,
    make_child,
)
from tether.records import ID, Record, digest

if TYPE_CHECKING:
    from tether.core.context import StepContext


class Critique(BaseModel):
    model_config = ConfigDict(extra="ignore")
    needs_revision: bool
    critique: str = ""


def load_principles(text: str, where: str) -> list[str]:
    """Principles from YAML: a list of strings, or a mapping with a ``principles`` list; plain
    text gives one principle per non-empty line."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        data = data.get("principles")
    if isinstance(data, list) and all(isinstance(p, str) for p in data):
        items = data
    elif isinstance(data, str) or data is None:
        items = [ln.strip().lstrip("-* ").strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    else:
        raise ConfigError(f"{where}: principles must be a list of strings")
    items = [p for p in items if p]
    if not items:
        raise ConfigError(f"{where}: no principles found")
    return items


@register
class Refine(MapStep, LLMFields):
    """Generate, critique against principles, revise; up to max_rounds rounds, each round a
    record in lineage."""

    type: ClassVar[str] = "refine"
    description: ClassVar[str] = (
        "Generate a response, critique it against a list of principles (a constitution) and revise it, "
        "up to max_rounds rounds; each round is a record in lineage, the final one kept."
    )

    instruction_column: str = "instruction"
    """The column holding the request."""
    response_column: str | None = None
    """Refine this existing response column instead of generating a first response."""
    principles: list[str] | None = None
    """The principles, inline."""
    principles_file: str | None = None
    """A YAML list (or text, one a line) of principles. Default: prompts/constitution.yaml."""
    max_rounds: int = Field(2, ge=1)
    """Most critique-revise rounds."""
    generate_template_file: str | None = None
    """The prompt for the first response (Jinja: instruction). Default: prompts/refine_generate.j2."""
    critique_template_file: str | None = None
    """The critique prompt (Jinja: principles, instruction, response). Default: prompts/refine_critique.j2."""
    revise_template_file: str | None = None
    """The revision prompt (Jinja: principles, instruction, response, critique). Default: prompts/refine_revise.j2."""
    max_attempts: int = Field(3, ge=1)
    """Tries for a valid critique before the record is handled by on_error."""

    _principles: list[str] = PrivateAttr(default_factory=list)
    _tpls: dict[str, Template] = PrivateAttr(default_factory=dict)

    def input_columns(self) -> set[str]:
        return {self.instruction_column} | ({self.response_column} if self.response_column else set())

    def output_columns(self) -> set[str]:
        return {"instruction", "response", "initial_response", "refine_rounds", "refine_round", "revised"}

    def removed_columns(self) -> set[str]:
        return {"*"}

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        return file_digests(self, ctx)

    def setup(self, ctx: StepContext) -> None:
        if self.principles:
            self._principles = list(self.principles)
        else:
            path = ctx.resolve(self.principles_file) if self.principles_file else PROMPTS / "constitution.yaml"
            if not path.is_file():
                raise ConfigError(f"step {self.instance_name}: principles_file '{self.principles_file}' does not exist")
            self._principles = load_principles(path.read_text(encoding="utf-8"), str(path))
        self._tpls = {
            "generate": load_template("refine_generate.j2", None, self.generate_template_file, ctx,
                                      field="generate_template"),
            "critique": load_template("refine_critique.j2", None, self.critique_template_file, ctx,
                                      field="critique_template"),
            "revise": load_template("refine_revise.j2", None, self.revise_template_file, ctx, field="revise_template"),
        }

    async def amap(self, record: Record, ctx: StepContext) -> Outcome:
        """One record per response: the first (round 0, unless it came in on ``response_column``)
        and each revision, each the child of the one before. The last is kept; the earlier ones
        are rejected as ``superseded_round``, so every round stays in lineage."""
        if not self._tpls:
            self.setup(ctx)
        client = ctx.llm(self.llm)
        instruction = str(record[self.instruction_column])
        values = {"principles": self._principles, "instruction": instruction}
        # the step's prompts and principles: what every response of the chain was made under
        th = digest([t.hash for t in self._tpls.values()] + [digest(self._principles)])
        # (round, response, prompt hash) of each response made here
        made: list[tuple[int, str, str | None]] = []
        if self.response_column:
            response = str(record[self.response_column])
        else:
            prompt = self._tpls["generate"].render(self.instance_name, **values)
            resp = await client.generate(self.request(prompt), record_id=record[ID])
            response = resp.text
            made.append((0, response, resp.request_hash))
        initial = response
        rounds = []
        for k in range(1, self.max_rounds + 1):
            prompt = self._tpls["critique"].render(self.instance_name, response=response, **values)
            crit, cresp = await client.generate_structured(self.request(prompt, temperature=0.0), Critique,
                                                           record_id=record[ID], max_attempts=self.max_attempts)
            assert isinstance(crit, Critique)
            entry = {"round": k, "critique": crit.critique, "needs_revision": crit.needs_revision,
                     "response": None, "critique_prompt_hash": cresp.request_hash, "revise_prompt_hash": None}
            if not crit.needs_revision:
                rounds.append(entry)
                break
            prompt = self._tpls["revise"].render(self.instance_name, response=response, critique=crit.critique, **values)
            rresp = await client.generate(self.request(prompt), record_id=record[ID])
            response = rresp.text
            entry.update(response=response, revise_prompt_hash=rresp.request_hash)
            rounds.append(entry)
            made.append((k, response, rresp.request_hash))
        if not made:  # the response that came in passed the first critique: one record, round 0
            made.append((0, response, cresp.request_hash))  # the hash of the critique that passed it
        out = Outcome()
        parent: Record | str = record
        for i, (k, text, prompt_hash) in enumerate(made):
            final = i == len(made) - 1
            data = {"instruction": instruction, "response": text, "initial_response": initial,
                    "refine_rounds": rounds if final else rounds[:k], "refine_round": k,
                    "revised": text != initial}
            rec = make_child(self, parent, data, ctx, recipe="refine", model=client.model_identity, template_hash=th,
                             prompt_hash=prompt_hash, salt=k)
            if final:
                out.kept.append(rec)
            else:
                out.rejected.append((rec, Verdict(False, "superseded_round", float(k))))
            parent = rec
        return out


__all__ = ["Critique", "Refine", "load_principles"]
