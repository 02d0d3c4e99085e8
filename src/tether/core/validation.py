"""Pydantic validation errors as one line naming the bad field's path (configs of steps,
pipelines, audits and cards all report them so)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tether.errors import ConfigError


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def format_validation_error(exc: ValidationError, prefix: str = "") -> ConfigError:
    """The first problem of a pydantic error as one line naming the bad field's path."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    path = _loc(tuple(err["loc"]))
    path = f"{prefix}.{path}" if prefix and path else (prefix or path)
    if err["type"] == "extra_forbidden":
        msg = f"unknown key '{path}'"
        hint = "check its spelling; `tether steps` lists each step's fields"
    elif err["type"] == "missing":
        msg = f"missing required key '{path}'"
        hint = None
    else:
        got = err.get("input")
        got_s = repr(got) if not isinstance(got, dict) else "a mapping"
        text = str(err["msg"]).removeprefix("Value error, ")
        msg = f"bad value for '{path}': {text} (got {got_s})"
        hint = None
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(msg, hint=hint)


__all__ = ["format_validation_error"]
