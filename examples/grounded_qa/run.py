"""Run the example offline with the scripted responder and save every response it gave.

Recorded example responses, scripted, not from a real model: the answers come from
``respond`` below (questions built from each passage's first sentence; the judge rejects any
question it cannot find in the passage). ``responses.jsonl`` holds each request's hash and
answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tether.llm
from tether.generate.testing import ScriptedLLM, fenced, request_text, schema_name
from tether.pipeline import Pipeline

HERE = Path(__file__).parent


def respond(req) -> str:
    text = request_text(req)
    if schema_name(req) == "QAPairs":
        passage = " ".join(fenced(text)[0].split("\n")[1:]) or fenced(text)[0]
        first = passage.split(". ")[0].strip()
        return json.dumps({"pairs": [
            {"question": f"According to the guide, what is true here: {first[:80]}?", "answer": first},
            {"question": "Who first invented composting?", "answer": "The ancient Romans."},
        ]})
    question = text.split("Question: ")[1].split("\n")[0]
    ok = "invented" not in question
    return json.dumps({"answerable": ok, "grounded": ok, "reason": "stated in the text" if ok else "not in the text"})


def main() -> None:
    llm = ScriptedLLM(respond, model="scripted-example")
    tether.llm.open_client = lambda config, **kw: llm  # the scripted client stands in for a model
    run_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "../../runs/grounded_qa_example"
    result = Pipeline.from_yaml(HERE / "pipeline.yaml").run(run_dir)
    with open(HERE / "responses.jsonl", "w", encoding="utf-8") as fh:
        for req in llm.requests:
            resp = respond(req)
            fh.write(json.dumps({"request": req.model_dump(mode="json"), "texts": [resp]}) + "\n")
    print(f"{result.dataset_rows} pairs kept; run in {result.run_dir}")


if __name__ == "__main__":
    main()
