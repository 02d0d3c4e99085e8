"""The scripted stand-in for a model that recorded ``responses.jsonl`` (not a real model).

It reads the topic and level the sampler put in the prompt and answers with a question and
answer written for the project for that cell of the grid. Regenerate the file with
``python examples/_record.py prompt``.
"""

from __future__ import annotations

import json
import re

from tether.generate.testing import request_text
from tether.llm.types import LLMRequest

ANSWERS = {
    ("worms", "beginner"): ("Which worms should I put in a worm bin?",
                            "Red wigglers (Eisenia fetida): they live in surface litter, unlike earthworms that burrow."),
    ("worms", "expert"): ("How much kitchen waste can a kilogram of red wigglers process each day?",
                          "Roughly half their body weight, so about half a kilogram a day once the colony is settled."),
    ("leaves", "beginner"): ("Can I put autumn leaves in my compost?",
                             "Yes: dry leaves are browns that add carbon; shred them so they break down faster."),
    ("leaves", "expert"): ("Why do whole oak leaves slow a heap down?",
                           "They are tough and high in carbon and tannins; shredding and mixing with greens fixes it."),
    ("heat", "beginner"): ("Why is the middle of my compost heap warm?",
                           "Microbes breaking down greens and browns release heat; a busy heap warms up within days."),
    ("heat", "expert"): ("What temperature should a hot heap hold to kill weed seeds?",
                         "About 55 degrees Celsius for at least three days, turning so every part gets its turn."),
}


def respond(req: LLMRequest) -> str:
    m = re.search(r"a (\w+) gardener might ask about (\w+)", request_text(req))
    assert m is not None, "not a prompt this responder knows"
    question, answer = ANSWERS[(m[2], m[1])]
    return json.dumps({"question": question, "answer": answer})
