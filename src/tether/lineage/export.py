"""Export formats: OpenAI chat messages, Alpaca, ShareGPT, preference pairs, plain text, and a
Hugging Face ``datasets`` folder.

A format is named in ``export.formats`` (or ``tether export --format``) as ``NAME`` or
``NAME:OPTION,OPTION``. Each record keeps its ``id`` and its ``origin`` (``real`` /
``synthetic``) unless ``no_id`` / ``no_origin`` is given, e.g. ``chat:no_id,no_origin``.

=============  ==================  ========================================================
format         file                record
=============  ==================  ========================================================
chat           chat.jsonl          ``{"messages": [{"role", "content"}, ...]}`` (OpenAI)
alpaca         alpaca.jsonl        ``{"instruction", "input", "output"}``
sharegpt       sharegpt.jsonl      ``{"conversations": [{"from", "value"}, ...]}``
preference     preference.jsonl    ``{"prompt", "chosen", "rejected"}``
text           text.jsonl          ``{"text"}``
hf             hf/                 every column, written with ``Dataset.save_to_disk``
=============  ==================  ========================================================

Which columns feed a conversation, in order of preference: ``messages`` (a list of
``{role, content}`` or its JSON text); ``instruction`` (+ ``input``, ``system``) and
``response`` (or ``output``); ``question`` (+ ``context``) and ``answer``; ``prompt`` and
``completion`` (or ``response``).

Example:
    >>> export_table(table, Path("out"), "chat:no_origin")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from tether.errors import ConfigError, InputError
from tether.io.writers import write_jsonl
from tether.records import ID, LINEAGE

log = logging.getLogger(__name__)

ALIASES = {"messages": "chat", "openai": "chat", "dpo": "preference", "pairs": "preference",
           "datasets": "hf", "plain": "text"}
OPTIONS = ("no_id", "no_origin")
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt", "tool": "tool"}


def parse_format(spec: str) -> tuple[str, set[str]]:
    """``"chat:no_id"`` -> ``("chat", {"no_id"})``; unknown names and options are config errors."""
    name, _, opts = spec.partition(":")
    name = ALIASES.get(name.strip().lower(), name.strip().lower())
    if name not in FORMATS:
        raise ConfigError(
            f"unknown export format '{spec}'",
            hint=f"formats: parquet, jsonl, {', '.join(FORMATS)} (options after ':': {', '.join(OPTIONS)})",
        )
    options = {o.strip() for o in opts.split(",") if o.strip()}
    bad = options - set(OPTIONS)
    if bad:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(bad))} in export format '{spec}'",
                          hint=f"options: {', '.join(OPTIONS)}")
    return name, options


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, default=str)


def _load_messages(v: Any) -> list[dict[str, str]] | None:
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return None
    if not isinstance(v, list) or not v:
        return None
    out = []
    for m in v:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            return None
        out.append({"role": str(m["role"]), "content": _text(m["content"]) or ""})
    return out


def to_messages(rec: dict[str, Any]) -> list[dict[str, str]] | None:
    """A record as an OpenAI-style conversation, or ``None`` when it has no conversation columns."""
    if rec.get("messages") is not None:
        return _load_messages(rec["messages"])
    system = _text(rec.get("system"))
    head = [{"role": "system", "content": system}] if system else []
    instruction, response = _text(rec.get("instruction")), _text(rec.get("response", rec.get("output")))
    if instruction is not None and response is not None:
        extra = _text(rec.get("input"))
        user = f"{instruction}\n\n{extra}" if extra else instruction
        return [*head, {"role": "user", "content": user}, {"role": "assistant", "content": response}]
    question, answer = _text(rec.get("question")), _text(rec.get("answer"))
    if question is not None and answer is not None:
        ctx = _text(rec.get("context"))
        user = f"{ctx}\n\n{question}" if ctx else question
        return [*head, {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    prompt, completion = _text(rec.get("prompt")), _text(rec.get("completion", rec.get("response")))
    if prompt is not None and completion is not None:
        return [*head, {"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
    return None


def _chat(rec: dict[str, Any]) -> dict[str, Any] | None:
    msgs = to_messages(rec)
    return None if msgs is None else {"messages": msgs}


def _alpaca(rec: dict[str, Any]) -> dict[str, Any] | None:
    if rec.get("instruction") is not None and rec.get("response", rec.get("output")) is not None:
        return {"instruction": _text(rec["instruction"]), "input": _text(rec.get("input")) or "",
                "output": _text(rec.get("response", rec.get("output")))}
    if rec.get("question") is not None and rec.get("answer") is not None:
        return {"instruction": _text(rec["question"]), "input": _text(rec.get("context")) or "",
                "output": _text(rec["answer"])}
    msgs = to_messages(rec)
    if not msgs:
        return None
    users = [m["content"] for m in msgs if m["role"] == "user"]
    answers = [m["content"] for m in msgs if m["role"] == "assistant"]
    if not users or not answers:
        return None
    return {"instruction": users[0], "input": "", "output": answers[-1]}


def _sharegpt(rec: dict[str, Any]) -> dict[str, Any] | None:
    msgs = to_messages(rec)
    if msgs is None:
        return None
    return {"conversations": [{"from": SHAREGPT_ROLES.get(m["role"], m["role"]), "value": m["content"]} for m in msgs]}


def _preference(rec: dict[str, Any]) -> dict[str, Any] | None:
    prompt = next((rec[k] for k in ("prompt", "instruction", "question") if rec.get(k) is not None), None)
    if prompt is None or rec.get("chosen") is None or rec.get("rejected") is None:
        return None
    return {"prompt": _text(prompt), "chosen": _text(rec["chosen"]), "rejected": _text(rec["rejected"])}


def _plain(rec: dict[str, Any]) -> dict[str, Any] | None:
    if rec.get("text") is not None:
        return {"text": _text(rec["text"])}
    msgs = to_messages(rec)
    if msgs is None:
        return None
    return {"text": "\n\n".join(m["content"] for m in msgs)}


#: format -> (file name, converter)
FORMATS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any] | None] | None]] = {
    "chat": ("chat.jsonl", _chat),
    "alpaca": ("alpaca.jsonl", _alpaca),
    "sharegpt": ("sharegpt.jsonl", _sharegpt),
    "preference": ("preference.jsonl", _preference),
    "text": ("text.jsonl", _plain),
    "hf": ("hf", None),
}

_NEEDS = {
    "chat": "messages, or instruction+response, question+answer, prompt+completion",
    "alpaca": "instruction+response, question+answer, or messages",
    "sharegpt": "messages, or instruction+response, question+answer, prompt+completion",
    "preference": "prompt (or instruction/question), chosen and rejected",
    "text": "text, or conversation columns",
}


def _origin(rec: dict[str, Any]) -> str | None:
    lin = rec.get(LINEAGE)
    if isinstance(lin, dict) and lin.get("origin"):
        return str(lin["origin"])
    return rec.get("origin")


def convert(records: list[dict[str, Any]], fmt: str, options: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Records in format ``fmt`` (not ``hf``). Every record must convert: when some cannot, an
    :class:`InputError` says how many, which format needs which columns, and the first id."""
    _, conv = FORMATS[fmt]
    assert conv is not None
    out, bad = [], []
    for rec in records:
        row = conv(rec)
        if row is None:
            bad.append(rec.get(ID))
            continue
        if "no_id" not in options and rec.get(ID) is not None:
            row = {"id": rec[ID], **row}
        if "no_origin" not in options:
            origin = _origin(rec)
            if origin is not None:
                row["origin"] = origin
        out.append(row)
    if bad:
        raise InputError(
            f"export {fmt}: {len(bad)} of {len(records)} records lack the columns it needs ({_NEEDS[fmt]}); "
            f"first: {bad[0]}",
            hint="shape the records with a select step (rename:), filter them out first, or choose another format",
        )
    return out


def _save_hf(table: pa.Table, path: Path, options: set[str]) -> None:
    try:
        import datasets
    except ImportError:
        raise ConfigError("export format 'hf' needs the datasets library",
                          hint="pip install 'tether[hf]'") from None
    if "no_id" in options and ID in table.column_names:
        table = table.drop_columns([ID])
    if "no_origin" not in options and LINEAGE in table.column_names and "origin" not in table.column_names:
        table = table.append_column("origin", pa.array([(lin or {}).get("origin") for lin in
                                                          table.column(LINEAGE).to_pylist()], pa.string()))
    # null-typed columns (all values missing) have no datasets feature: store them as strings
    for name in table.column_names:
        if pa.types.is_null(table.schema.field(name).type):
            table = table.set_column(table.column_names.index(name), name, pa.nulls(table.num_rows, pa.string()))
    ds = datasets.Dataset(table)
    tmp = path.with_name(f".{path.name}.tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    ds.save_to_disk(str(tmp))
    if path.exists():
        import shutil

        shutil.rmtree(path)
    tmp.rename(path)


def export_table(table: pa.Table, out_dir: Path, fmt: str) -> Path:
    """Write ``table`` in format ``fmt`` (``NAME[:OPTIONS]``) into ``out_dir``; returns the path.

    Raises:
        ConfigError: an unknown format or option; ``hf`` without ``datasets`` installed.
        InputError: records that lack the columns the format needs.
    """
    name, options = parse_format(fmt)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fname, _ = FORMATS[name]
    target = out_dir / fname
    if name == "hf":
        _save_hf(table, target, options)
    else:
        write_jsonl(convert(table.to_pylist(), name, options), target)
    log.info("exported %d records as %s to %s", table.num_rows, name, target)
    return target


__all__ = ["FORMATS", "convert", "export_table", "parse_format", "to_messages"]
