"""Structured output: a pydantic model as a JSON schema, an instruction, and tolerant parsing.

Servers with a structured-output mode get the schema as ``response_format`` (see the openai
backend); every structured request also carries a short instruction, so a server without
that mode, or a local model, still knows what to write. The answer is taken from the whole
text, a fenced block, or the first balanced JSON object in prose, then validated.

Example:
    >>> class QA(BaseModel):
    ...     question: str
    ...     answer: str
    >>> parse_structured('Sure! ```json\\n{"question": "q", "answer": "a"}\\n```', QA).answer
    'a'
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tether.llm.types import LLMRequest, Message

M = TypeVar("M", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a pydantic model."""
    return model.model_json_schema()


def schema_name(schema: dict[str, Any]) -> str:
    """A name for ``response_format.json_schema.name`` (letters, digits, ``_`` and ``-``)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "output"))
    return name[:64] or "output"


def instruction(schema: dict[str, Any]) -> str:
    return (
        "Answer with a single JSON object that conforms to this JSON schema, and nothing else:\n"
        + json.dumps(schema, sort_keys=True, ensure_ascii=False)
    )


def with_schema(request: LLMRequest, schema: dict[str, Any]) -> LLMRequest:
    """The request asking for ``schema``: ``output_schema`` set and the instruction appended
    to the system message (or added as one)."""
    msgs = list(request.messages)
    text = instruction(schema)
    if msgs and msgs[0].role == "system":
        msgs[0] = Message(role="system", content=f"{msgs[0].content}\n\n{text}")
    else:
        msgs.insert(0, Message(role="system", content=text))
    return request.model_copy(update={"messages": msgs, "output_schema": schema})


CUT_ANSWER_CHARS = 300


def with_correction(request: LLMRequest, answer: str, error: str, *, cut: bool = False) -> LLMRequest:
    """The request again, with the invalid answer and what was wrong with it.

    ``cut``: the answer stopped at ``max_tokens``. Only its start is repeated (the whole of
    it would grow the prompt by up to ``max_tokens`` at every attempt, past the context of
    a small model), and the model is asked for a shorter answer.
    """
    if cut and len(answer) > CUT_ANSWER_CHARS:
        answer = answer[:CUT_ANSWER_CHARS] + " …"
    again = "a shorter JSON object, and nothing else" if cut else "only the corrected JSON object"
    msgs = [
        *request.messages,
        Message(role="assistant", content=answer),
        Message(role="user", content=f"That answer is not valid: {error}\nAnswer again with {again}."),
    ]
    return request.model_copy(update={"messages": msgs})


def _balanced_objects(text: str) -> list[str]:
    """Substrings of ``text`` that are balanced ``{...}`` spans (string-aware)."""
    out = []
    start = text.find("{")
    while start != -1:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    out.append(text[start : i + 1])
                    break
        start = text.find("{", start + 1)
    return out


def extract_json(text: str) -> Any:
    """The JSON value in an answer: the whole text, else a fenced block, else the first
    balanced object in prose that parses.

    Raises:
        ValueError: no JSON value found.
    """
    stripped = text.strip()
    candidates = [stripped, *(m.strip() for m in _FENCE.findall(text)), *_balanced_objects(text)]
    for cand in candidates:
        if not cand:
            continue
        try:
            return json.loads(cand)
        except ValueError:
            continue
    raise ValueError("no JSON object found in the answer")


def parse_structured(text: str, model: type[M]) -> M:
    """Extract JSON from ``text`` and validate it against ``model``.

    Raises:
        ValueError: no JSON found, or it does not match (a pydantic ``ValidationError`` is a
        ``ValueError``); the message says what is wrong, for the model to correct.
    """
    value = extract_json(text)
    return model.model_validate(value)


def describe_error(exc: Exception) -> str:
    """A short description of why an answer failed, fit to show the model."""
    if isinstance(exc, ValidationError):
        parts = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(p) for p in e["loc"]) or "(root)"
            parts.append(f"{loc}: {e['msg']}")
        return "; ".join(parts)
    return str(exc)


__all__ = [
    "describe_error",
    "extract_json",
    "instruction",
    "parse_structured",
    "schema_name",
    "schema_of",
    "with_correction",
    "with_schema",
]
