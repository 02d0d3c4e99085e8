"""The scripted stand-in for a model that recorded ``responses.jsonl`` (not a real model).

- Asked for question-answer pairs, it turns sentences of the passage into questions whose
  answer is the sentence itself, and adds one planted question the text cannot answer
  ("Who first invented composting?").
- Asked to judge a pair, it calls the pair answerable and grounded when at least 80% of the
  answer's words (four letters or more) occur in the source text; the planted pair fails.

Regenerate the file with ``python examples/_record.py grounded_qa``.
"""

from __future__ import annotations

import json
import re

from tether.generate.testing import fenced, request_text, schema_name, sentences, word_support
from tether.llm.types import LLMRequest

PLANTED = {"question": "Who first invented composting?", "answer": "The ancient Romans invented it."}
VERBS = {"is", "are", "needs", "need", "include", "includes", "smells", "gives", "give", "takes", "take", "holds",
         "kills", "makes", "turns", "uses", "use", "reaches", "contains", "keeps", "works", "has", "have", "builds",
         "helps", "adds", "breaks", "means", "produces", "starts", "attract", "attracts"}
PREPOSITIONS = {"like", "to", "from", "for", "into", "with", "about", "of"}
PRONOUNS = {"it", "this", "that", "they", "these", "those", "there", "in", "if", "when", "for", "keep"}
CLAUSES = {"that", "which", "who", "until", "it", "when"}


def question_for(sentence: str) -> str:
    """A question whose answer is the sentence: the subject before its first main verb."""
    words = sentence.rstrip(".!?").split()
    for i, w in enumerate(words[:10]):
        if i == 0 or words[0].lower() in PRONOUNS or CLAUSES & {x.lower() for x in words[:i]}:
            if w.lower() in VERBS:
                break
            continue
        if w.lower() in VERBS:
            subject = " ".join([words[0].lower(), *words[1:i]]).strip(",")
            if w in ("is", "are"):
                return f"What {w} {subject}?"
            base = w[:-1] if w.endswith("s") and w not in ("has",) else w
            base = "have" if w == "has" else base
            aux = "does" if w.endswith("s") else "do"
            tail = f" {words[i + 1]}" if i + 1 < len(words) and words[i + 1] in PREPOSITIONS else ""
            return f"What {aux} {subject} {base}{tail}?"
    return f"What do home composting guides say about this: {' '.join(words[:8]).rstrip(',:;')}?"


def respond(req: LLMRequest) -> str:
    text = request_text(req)
    if schema_name(req) == "QAPairs":
        n = int(re.search(r"Write (\d+) question-answer pair", text)[1])
        # whole sentences only: a chunk can start mid-sentence
        found = [s for s in sentences(fenced(text)[0], min_words=8) if s[0].isupper()]
        pairs = [{"question": question_for(s), "answer": s} for s in found[: max(n - 1, 1)]]
        return json.dumps({"pairs": [*pairs, PLANTED][:n] if n > 1 else pairs})
    source, _question, answer = fenced(text)  # the judge's prompt fences all three
    ok = word_support(answer, source) >= 0.8
    return json.dumps({"answerable": ok, "grounded": ok,
                       "reason": "every claim is stated in the source" if ok else "the source does not say this"})
