"""The scripted stand-in for a model that recorded ``responses.jsonl`` (not a real model).

- Knowledge leaf: one question per sentence of the fenced document, answered by the sentence.
- Foundational leaf (ratios): mixing-ratio word problems with the answer computed.
- Compositional leaf (notes): short notes on composting tasks written for the project.
- Every leaf's first answer repeats its first seed example word for word (planted: the recipe
  rejects it as ``copies_seed_example``).

Regenerate the file with ``python examples/_record.py taxonomy``.
"""

from __future__ import annotations

import json
import re

from tether.generate.testing import fenced, request_text, sentences
from tether.llm.types import LLMRequest

NOTES = [
    ("Write a one-line note asking the family to put eggshells in the compost caddy.",
     "Eggshells go in the green caddy by the sink, crushed if you can. Thanks!"),
    ("Write a short reminder to check the worm bin's moisture.",
     "Worm bin check: squeeze a handful of bedding; it should feel like a wrung-out sponge."),
    ("Write a two-line note for a neighbour offering finished compost.",
     "We have more finished compost than we need. Bring a bucket, it is by the side gate."),
]


def respond(req: LLMRequest) -> str:
    text = request_text(req)
    n = int(re.search(r"Write (\d+) new examples", text)[1])
    leaf = re.search(r'leaf "([^"]+)"', text)[1]
    seed_q = re.search(r"Example 1:\nQuestion: (.*)\nAnswer: (.*)", text)
    examples = [{"question": seed_q[1], "answer": seed_q[2]}]
    if leaf.endswith("vermicomposting"):
        for s in sentences(fenced(text)[0], min_words=8)[: n - 1]:
            examples.append({"question": f"What does the guide say about this: {' '.join(s.split()[:6])}?",
                             "answer": s})
    elif leaf.endswith("ratios"):
        for k in range(2, n + 1):
            browns, greens = k + 2, 2 * k + 1
            examples.append({"question": f"A heap needs {browns} buckets of browns per bucket of greens. How many "
                                         f"buckets of browns go with {greens} buckets of greens?",
                             "answer": str(browns * greens)})
    else:
        examples += [{"question": q, "answer": a} for q, a in NOTES[: n - 1]]
    return json.dumps({"examples": examples[:n]})
