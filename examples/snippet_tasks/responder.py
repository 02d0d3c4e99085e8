"""The scripted stand-in for a model that recorded ``responses.jsonl`` (not a real model).

For each snippet it writes two tasks derived from the code: explain the function (answered
from its name, arguments and docstring) and write a test for it (answered with a pytest
function calling it). Regenerate the file with ``python examples/_record.py snippet_tasks``.
"""

from __future__ import annotations

import json
import re

from tether.generate.testing import fenced, request_text
from tether.llm.types import LLMRequest


def respond(req: LLMRequest) -> str:
    snippet = fenced(request_text(req))[0]
    m = re.search(r"def (\w+)\(([^)]*)\):\n\s+\"\"\"(.*?)\"\"\"", snippet, re.S)
    assert m is not None, "not a snippet this responder knows"
    name, args, doc = m[1], m[2], " ".join(m[3].split())
    explain = {"instruction": f"Explain what this function does and what it returns:\n\n{snippet}",
               "response": f"`{name}({args})`: {doc} It takes {len(args.split(','))} argument(s): {args}."}
    test = {"instruction": f"Write a pytest test for `{name}`:\n\n{snippet}",
            "response": f"def test_{name}_runs():\n    assert {name} is not None  # import {name} from your module\n"}
    return json.dumps({"pairs": [explain, test]})
