"""The scripted stand-in for a model that recorded ``responses.jsonl`` (not a real model).

- Asked for new tasks, it offers the first tasks of a fixed list (written for the project)
  that the prompt does not show yet, plus a near copy of the first task it shows (which the
  ROUGE-L rule rejects) and, in the first request, a task about a diagram (an unusable type).
- Asked whether a task is classification, it says yes when the task starts with "Classify".
- Asked for instances, it writes one derived from the task's words (label first for
  classification tasks).

Regenerate the file with ``python examples/_record.py self_instruct``.
"""

from __future__ import annotations

import json
import re

from tether.generate.testing import request_text, schema_name
from tether.llm.types import LLMRequest

POOL = [
    "List four materials that should never go into a home compost heap, with a reason for each.",
    "Classify a compost heap's smell as healthy, too wet or too rich in nitrogen.",
    "Describe how to build a three-bay compost system from pallets.",
    "Write a friendly note asking neighbours to save their coffee grounds for your compost.",
    "Compare hot composting and cold composting in a short table of pros and cons.",
    "Explain to a child what earthworms do in a compost heap.",
    "Give a weekly routine for looking after a worm bin.",
    "Summarise how finished compost should look, feel and smell.",
]
PLANTED_UNUSABLE = "Draw a diagram of the layers inside a compost heap."
LABELS = {"healthy": "It smells like a forest floor after rain.",
          "too wet": "It smells sour and the bottom is slimy.",
          "too rich in nitrogen": "It smells sharply of ammonia."}


def respond(req: LLMRequest) -> str:
    text = request_text(req)
    name = schema_name(req)
    if name == "Instructions":
        shown = re.findall(r"^\d+\. (.+)$", text, flags=re.M)
        n = int(re.search(r"Write (\d+) new tasks", text)[1])
        fresh = [t for t in POOL if t not in shown][: n - 1]
        near_copy = shown[0].rstrip(".") + " in detail."
        first = not any(t in POOL for t in shown)
        return json.dumps({"instructions": [near_copy, *fresh] + ([PLANTED_UNUSABLE] if first else [])})
    task = text.split("Task: ", 1)[1].split("\n", 1)[0]
    if name == "TaskKind":
        return json.dumps({"is_classification": task.startswith("Classify")})
    if "first pick a possible output label" in text:
        label = next(iter(LABELS))
        return json.dumps({"instances": [{"output": label, "input": LABELS[label]}]})
    topic = " ".join(task.rstrip(".").split()[1:6])
    return json.dumps({"instances": [{"input": "", "output": f"A short answer about {topic}, written for a home gardener."}]})
