"""The scripted-responder helpers: a server's view of a request matches what the client sent."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from tether.generate.testing import llm_request, scripted_server, sentences, word_support
from tether.llm import LLMConfig, LLMRequest, open_client


class Pair(BaseModel):
    question: str
    answer: str


def test_the_server_sees_the_request_the_client_sent() -> None:
    seen: list[LLMRequest] = []

    def respond(req: LLMRequest) -> str | list[str]:
        seen.append(req)
        return '{"question": "q", "answer": "a"}' if req.output_schema else ["one", "two"]

    async def go(mode: str, base_url: str) -> tuple[str, list[str]]:
        client = open_client(LLMConfig(model="scripted", base_url=base_url, structured_mode=mode))  # type: ignore[arg-type]
        try:
            obj, _ = await client.generate_structured(LLMRequest.chat("ask", system="sys", temperature=0.2), Pair)
            plain = await client.generate(LLMRequest.chat("hi", n=2, seed=5, stop=["x"]))
            return obj.answer, plain.texts  # type: ignore[attr-defined]
        finally:
            await client.aclose()

    with scripted_server(respond, model="scripted") as srv:
        for mode in ("json_schema", "prompt"):
            seen.clear()
            assert asyncio.run(go(mode, srv.base_url)) == ("a", ["one", "two"])
            structured, plain = seen
            assert structured.output_schema is not None and structured.output_schema["title"] == "Pair"
            assert structured.temperature == 0.2 and structured.messages[-1].content == "ask"
            assert plain.n == 2 and plain.seed == 5 and plain.stop == ["x"] and plain.output_schema is None
        assert "response_format" not in srv.answered[-2]  # prompt mode: the schema came from the instruction
    assert llm_request({"messages": [{"role": "user", "content": "x"}]}).temperature == 0.7


def test_sentences_and_word_support() -> None:
    text = "# Title\nA pile needs air.\nIt also needs\nwater! Turn it 3 times."
    assert sentences(text) == ["A pile needs air.", "It also needs water!", "Turn it 3 times."]
    assert sentences(text, min_words=5) == []
    assert sentences(text, min_words=4) == sentences(text)
    assert word_support("The pile needs water", text) == 1.0
    assert word_support("The ancient Romans", text) == 0.0
    assert word_support("a b", text) == 1.0  # no word long enough to check
