"""The scripted stand-in for a model that recorded ``responses.jsonl`` (not a real model).

- First answers (written for the project) have planted faults: one is rude about the
  neighbour, one is wrong and unhedged about dog waste; one is fine.
- As the critic, it flags a response that contains a phrase from a short list of faults and
  says which principle it breaks; otherwise it asks for no revision.
- As the reviser, it replaces the faulty answer with the corrected one written for it.

Regenerate the file with ``python examples/_record.py refine``.
"""

from __future__ import annotations

import json

from tether.generate.testing import request_text, schema_name
from tether.llm.types import LLMRequest

FIRST = {
    "How often should I turn my compost heap?":
        "Turn a hot heap every three to five days for the first weeks; a cold heap needs turning only "
        "every few weeks, or not at all if you are patient.",
    "My neighbour's compost attracts rats. What should I tell them?":
        "Tell them they are a lazy slob and that their heap is disgusting.",
    "Is it safe to compost dog waste in the vegetable garden heap?":
        "Yes, dog waste is perfectly safe in any compost heap.",
}
FAULTS = {
    "lazy slob": ("Be respectful to everyone mentioned in the request.",
                  "The answer insults the neighbour instead of helping."),
    "perfectly safe": ("Be accurate; say so when something is uncertain rather than guessing.",
                       "Dog waste can carry parasites; the answer is wrong and overconfident."),
}
REVISED = {
    "lazy slob": "Ask them kindly to keep meat, fish and dairy out of the heap, to bury fresh scraps under "
                 "browns, and to use a bin with a closed base and a lid; rats come for food and shelter.",
    "perfectly safe": "No: dog and cat waste can carry parasites that survive a home heap. Keep it out of compost "
                      "used on food crops; a separate pet-waste digester is the safer choice.",
}


def respond(req: LLMRequest) -> str:
    text = request_text(req)
    if schema_name(req) == "Critique":
        response = text.split("\nResponse:\n", 1)[1].split("\n\nSay whether", 1)[0]
        for phrase, (principle, why) in FAULTS.items():
            if phrase in response:
                return json.dumps({"needs_revision": True, "critique": f"Breaks '{principle}' {why}"})
        return json.dumps({"needs_revision": False, "critique": "The response follows every principle."})
    if "Rewrite the response so that" in text:
        response = text.split("\nResponse:\n", 1)[1]
        return next(fix for phrase, fix in REVISED.items() if phrase in response)
    return FIRST[req.messages[-1].content.strip()]
