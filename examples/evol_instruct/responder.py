"""The scripted stand-in for a model that recorded ``responses.jsonl`` (not a real model).

- As the prompt rewriter (in depth), it appends a clause that matches the method the prompt
  asks for (a constraint, more depth, a specific case, step-by-step reasoning).
- As the prompt creator (in breadth), it asks a related question about another part of
  composting.
- Evolving the poem instruction, it answers "#Rewritten Prompt#: ..." (a copied prompt,
  eliminated), and asked to answer an evolved poem request, it refuses ("Sorry, ..."),
  which the refusal rule eliminates.
- As the equality judge it says "equal" only when the two instructions have the same words.
- Asked an evolved instruction, it answers with a short paragraph naming the request.

Regenerate the file with ``python examples/_record.py evol_instruct``.
"""

from __future__ import annotations

import json
import re

from tether.generate.testing import request_text
from tether.llm.types import LLMRequest

CLAUSES = {
    "Add one more constraint": " Keep the answer under 100 words and assume a small balcony.",
    "increase the depth and breadth": " Cover what goes wrong in winter as well as in summer.",
    "Replace general concepts": " Assume the heap is made of oak leaves and coffee grounds.",
    "multiple-step reasoning": " Reason step by step from the carbon to nitrogen ratio.",
}
BREADTH = ["How do I choose between a tumbler and an open compost bay?",
           "Which garden weeds are safe to compost, and which are not?",
           "How can a school run a compost scheme for its canteen waste?"]


def respond(req: LLMRequest) -> str:
    text = request_text(req)
    given = text.split("Given prompt:\n", 1)[1].strip() if "Given prompt:\n" in text else None
    if "Prompt Rewriter" in text and given is not None:
        if "poem" in given.lower():
            return f"#Rewritten Prompt#: {given} Use rhyming couplets."
        clause = next(c for k, c in CLAUSES.items() if k in text)
        return given.rstrip() + clause
    if "Prompt Creator" in text and given is not None:
        if "poem" in given.lower():
            return "Write a poem about a compost heap in winter, in four lines."
        return BREADTH[sum(map(ord, given)) % len(BREADTH)]
    if "Here are two instructions" in text:
        first = re.search(r"First instruction:\n(.*?)\n\nSecond instruction:", text, re.S)[1]
        second = re.search(r"Second instruction:\n(.*?)\n\nReply with JSON", text, re.S)[1]
        return json.dumps({"equal": sorted(first.lower().split()) == sorted(second.lower().split())})
    if "poem" in text.lower():
        return "Sorry, I can't write poems."
    return (f"Here is a practical answer to: {text.strip()} Balance greens and browns, keep the heap as damp "
            "as a wrung-out sponge, turn it for air, and expect finished compost in two to twelve months.")
