"""``evol_instruct``: evolve instructions in depth (add constraints, deepen, concretize, ask for
more reasoning steps) and in breadth (a new, rarer instruction of the same domain), with the
elimination rules of WizardLM (Xu et al., 2023):

- ``no_new_information``: the evolved instruction equals the original (after normalisation, or
  by an LLM equality check);
- ``copied_prompt``: it copies words of the evolving prompt ("given prompt", "rewritten prompt");
- ``refusal``: the response to it contains "sorry" and is short (under 80 words);
- ``empty_response``: the response is only punctuation and stop words.

Each successful round is a record whose parent is the previous round's record; a failed round
is rejected with its reason and the next round evolves the last good instruction.

Example (YAML)::

    - read: {path: instructions.jsonl}
    - evol_instruct: {rounds: 3}
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from tether.core.registry import register
from tether.core.step import MapStep, Outcome, Verdict
from tether.errors import LLMResponseError
from tether.generate._private import LLMFields, Template, file_digests, load_template, make_child
from tether.records import ID, Record, digest
from tether.text import normalize, words

if TYPE_CHECKING:
    from tether.core.context import StepContext

Method = Literal["constraints", "deepen", "concretize", "reasoning", "breadth"]
ALL_METHODS: tuple[Method, ...] = typing.get_args(Method)

DEPTH_INSTRUCTIONS: dict[str, str] = {
    "constraints": "Add one more constraint or requirement to the given prompt.",
    "deepen": "If the given prompt asks about certain issues, increase the depth and breadth of the inquiry.",
    "concretize": "Replace general concepts in the given prompt with more specific concepts.",
    "reasoning": "If the given prompt can be solved with just a few simple thinking steps, rewrite it to "
                 "explicitly ask for multiple-step reasoning.",
}

COPY_MARKERS = ("given prompt", "rewritten prompt", "#rewritten prompt#", "new prompt", "created prompt",
                "prompt rewriter", "prompt creator")

_STOP = frozenset(["a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "is", "are", "was", "were", "be", "been", "it", "this", "that", "i", "you", "he", "she", "we", "they", "me", "my", "your", "our", "their", "as", "so", "do", "does", "did", "not", "no", "yes", "ok", "okay"])


class Equality(BaseModel):
    model_config = ConfigDict(extra="ignore")
    equal: bool


def elimination_reason(original: str, evolved: str, response: str | None) -> str | None:
    """The first elimination rule the evolution breaks, or None.

    Example:
        >>> elimination_reason("Name a fruit.", "Here is the #Rewritten Prompt#: name a fruit", None)
        'copied_prompt'
    """
    if not evolved.strip() or normalize(evolved) == normalize(original):
        return "no_new_information"
    low = evolved.lower()
    if any(m in low for m in COPY_MARKERS):
        return "copied_prompt"
    if response is not None:
        if "sorry" in response.lower() and len(response.split()) < 80:
            return "refusal"
        if all(w in _STOP for w in words(response)):
            return "empty_response"
    return None


@register
class EvolInstruct(MapStep, LLMFields):
    """Evolve each instruction for a few rounds, dropping failed evolutions by the usual rules."""

    type: ClassVar[str] = "evol_instruct"
    description: ClassVar[str] = (
        "Evolve instructions in depth and in breadth, eliminating evolutions with no new information, "
        "a copied prompt, or a refused/empty response."
    )

    instruction_column: str = "instruction"
    """The column holding each instruction."""
    rounds: int = Field(1, ge=1)
    """Evolution rounds per instruction."""
    methods: list[Method] = Field(default_factory=lambda: list(ALL_METHODS))
    """Evolutions to draw from (one per round, at random)."""
    respond: bool = True
    """Answer each evolved instruction (needed for the refusal and empty-response rules)."""
    check_equal: bool = True
    """Ask the model whether the evolved instruction equals the original (no new information)."""
    depth_template_file: str | None = None
    """The in-depth evolution prompt (Jinja: instruction, method_instruction). Default: prompts/evol_depth.j2."""
    breadth_template_file: str | None = None
    """The in-breadth evolution prompt (Jinja: instruction). Default: prompts/evol_breadth.j2."""
    equal_template_file: str | None = None
    """The equality check prompt (Jinja: original, evolved; asks for ``{"equal": bool}``).
    Default: prompts/evol_equal.j2."""

    _tpls: dict[str, Template] = PrivateAttr(default_factory=dict)

    def input_columns(self) -> set[str]:
        return {self.instruction_column}

    def output_columns(self) -> set[str]:
        return {"instruction", "response", "evol_method", "evol_round", "evolved_from"}

    def removed_columns(self) -> set[str]:
        return {"*"}

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        return file_digests(self, ctx)

    def setup(self, ctx: StepContext) -> None:
        ctx.require(bool(self.methods), "methods must not be empty")
        files = {"depth": self.depth_template_file, "breadth": self.breadth_template_file,
                 "equal": self.equal_template_file}
        self._tpls = {name: load_template(f"evol_{name}.j2", None, file, ctx, field=f"{name}_template")
                      for name, file in files.items()}

    async def amap(self, record: Record, ctx: StepContext) -> Outcome:
        if not self._tpls:
            self.setup(ctx)
        client = ctx.llm(self.llm)
        rng = ctx.rng(str(record[ID]))
        current = str(record[self.instruction_column])
        parent: Record = record
        out = Outcome()
        for k in range(1, self.rounds + 1):
            method = rng.choice(self.methods)
            tpl = self._tpls["breadth" if method == "breadth" else "depth"]
            prompt = tpl.render(self.instance_name, instruction=current,
                                method_instruction=DEPTH_INSTRUCTIONS.get(method, ""))
            resp = await client.generate(self.request(prompt), record_id=record[ID])
            evolved = resp.text.strip()
            answer = None
            if self.respond and evolved:
                answer = (await client.generate(self.request(evolved), record_id=record[ID])).text
            reason = elimination_reason(current, evolved, answer)
            if reason is None and self.check_equal and method != "breadth":
                reason = await self._equal(current, evolved, record[ID], ctx)
            data = {"instruction": evolved, "response": answer, "evol_method": method, "evol_round": k,
                    "evolved_from": current}
            # the equality check's prompt decides too, so it is part of the template hash
            equal = self._tpls["equal"].hash if self.check_equal and method != "breadth" else None
            rec = make_child(self, parent, data, ctx, recipe="evol_instruct", model=client.model_identity,
                             template_hash=digest([tpl.hash, equal]), prompt_hash=resp.request_hash, salt=k)
            if reason is not None:
                out.rejected.append((rec, Verdict(False, reason, float(k))))
                continue
            out.kept.append(rec)
            current, parent = evolved, rec
        return out

    async def _equal(self, original: str, evolved: str, rid: str, ctx: StepContext) -> str | None:
        client = ctx.llm(self.llm)
        prompt = self._tpls["equal"].render(self.instance_name, original=original, evolved=evolved)
        try:
            obj, _ = await client.generate_structured(self.request(prompt, temperature=0.0), Equality, record_id=rid)
        except LLMResponseError:
            return "equality_unparseable"  # fail closed: an evolution we cannot vouch for is dropped
        return "no_new_information" if obj.equal else None  # type: ignore[attr-defined]


__all__ = ["COPY_MARKERS", "DEPTH_INSTRUCTIONS", "EvolInstruct", "elimination_reason"]
