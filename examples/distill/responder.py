"""The scripted stand-ins for a teacher and a judge that recorded ``responses.jsonl`` (not real models).

- The teacher answers each prompt with three samples written for the project: a complete
  answer, a short one and a vague one. For "Name one green material" all three are equally
  good, so no pair clears the margin (planted: rejected as ``no_preference_margin``).
- The judge (both the distill judge prompt and the scorer prompt of ``scores.yaml``) scores
  an answer by what it contains: 2 points, plus 2 per fact from the prompt's fact list
  (numbers, named materials) up to 10, less 3 when it hedges ("not sure", "depends").

Regenerate the file with ``python examples/_record.py distill``.
"""

from __future__ import annotations

import json
import re

from tether.generate.testing import request_text
from tether.llm.types import LLMRequest

SAMPLES = {
    "How long does compost take to be ready?": [
        "A hot heap that is turned every few days can be ready in eight to twelve weeks; a cold heap "
        "left alone takes six months to a year. It is ready when it is dark, crumbly and smells of soil.",
        "Usually a few months to a year.",
        "It depends, I'm not sure. Quite a while.",
    ],
    "What is the ideal carbon to nitrogen ratio for a compost heap?": [
        "About 25 to 30 parts carbon to 1 part nitrogen by weight. In practice that is roughly two to "
        "three buckets of browns such as dry leaves for each bucket of greens such as vegetable scraps.",
        "Around 30 to 1.",
        "Not sure, it depends on the heap.",
    ],
    "Name one green material for compost.": [
        "Coffee grounds.",
        "Grass clippings.",
        "Vegetable peelings.",
    ],
}
FACTS = {
    "How long does compost take to be ready?": ["weeks", "year", "crumbly", "turned", "months"],
    "What is the ideal carbon to nitrogen ratio for a compost heap?": ["25", "30", "browns", "greens", "leaves"],
    "Name one green material for compost.": ["coffee", "grass", "vegetable"],
}


def score(prompt: str, answer: str) -> float:
    low = answer.lower()
    points = 2 + 2 * sum(f in low for f in FACTS[prompt])
    if "not sure" in low or "depends" in low:
        points -= 3
    return float(min(10, max(1, points)))


def respond(req: LLMRequest) -> str | list[str]:
    text = request_text(req)
    m = re.search(r"Prompt:\n(.*?)\n\nResponse:\n(.*?)\n\nReply with JSON", text, re.S) or re.search(
        r"Question: (.*?)\nAnswer: (.*?)(?:\n|$)", text, re.S)
    if m is not None:
        prompt, answer = m[1].strip(), m[2].strip()
        s = score(prompt, answer)
        return json.dumps({"score": s, "reason": f"{s:g}/10: covers {int((s - 2) // 2)} key facts"}
                          if "Reply with JSON" in text else {"score": s})
    return SAMPLES[req.messages[-1].content.strip()]
