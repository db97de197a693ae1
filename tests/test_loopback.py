"""The loopback OpenAI server, exercised through litellm / openai / LangChain.

Also pins down litellm 1.110 behaviour judgeguard relies on (exception classes,
retries, timeouts, mock_response, cost), so a litellm upgrade that changes it
fails here first.  No test talks to a real provider.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.request
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
import openai
import pytest
from loopback import DEFAULT_CONTENT, Hang, LoopbackLLM, Reply

litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on every error

MODEL = "openai/judge-test"
MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "You are a strict judge. Answer in JSON."},
    {"role": "user", "content": "Question: 2+2?\nAnswer: 4 — «exact» ✓"},
]
NO_RETRIES: dict[str, int] = {"num_retries": 0, "max_retries": 0}


@pytest.fixture(name="loopback_llm")
def _one_loopback() -> Any:
    """A started loopback server (these tests drive litellm itself: no transport switch)."""
    with LoopbackLLM() as server:
        yield server


def _kw(server: LoopbackLLM, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "api_base": server.base_url,
        "api_key": "sk-test",
        "messages": MESSAGES,
        **NO_RETRIES,
        **extra,
    }


def _cause_chain(exc: BaseException | None) -> list[type[BaseException]]:
    out: list[type[BaseException]] = []
    while exc is not None and type(exc) not in out:
        out.append(type(exc))
        exc = exc.__cause__ or exc.__context__
    return out


# --------------------------------------------------------------------------- basics


def test_completion_gets_scripted_content(loopback_llm: LoopbackLLM) -> None:
    loopback_llm.script("first", Reply(content="second", usage=(11, 7)))
    r1 = litellm.completion(**_kw(loopback_llm))
    r2 = litellm.completion(**_kw(loopback_llm))
    r3 = litellm.completion(**_kw(loopback_llm))  # queue empty -> default responder
    assert r1.choices[0].message.content == "first"
    assert r2.choices[0].message.content == "second"
    assert r3.choices[0].message.content == DEFAULT_CONTENT
    assert json.loads(DEFAULT_CONTENT)["verdict"] == "pass"
    assert r1.model == "judge-test"  # server echoes the model litellm sent (prefix stripped)
    assert r1.choices[0].finish_reason == "stop"
    assert (r2.usage.prompt_tokens, r2.usage.completion_tokens, r2.usage.total_tokens) == (
        11,
        7,
        18,
    )
    assert loopback_llm.pending == 0
    assert len(loopback_llm.requests) == 3


@pytest.mark.asyncio
async def test_acompletion_gets_scripted_content(loopback_llm: LoopbackLLM) -> None:
    loopback_llm.script("async reply")
    resp = await litellm.acompletion(**_kw(loopback_llm))
    assert resp.choices[0].message.content == "async reply"
    assert resp.choices[0].message.role == "assistant"


def test_recorded_request_has_exact_messages(loopback_llm: LoopbackLLM) -> None:
    litellm.completion(**_kw(loopback_llm, temperature=0, seed=7, max_tokens=50))
    body = loopback_llm.last_request
    assert body["messages"] == MESSAGES
    assert body["model"] == "judge-test"
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0, 7, 50)
    assert "metadata" not in body
    assert loopback_llm.request_headers[-1]["authorization"] == "Bearer sk-test"


def test_response_format_json_schema_is_forwarded(loopback_llm: LoopbackLLM) -> None:
    schema = {
        "type": "object",
        "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]}},
        "required": ["verdict"],
        "additionalProperties": False,
    }
    rf = {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": schema, "strict": True},
    }
    # judge-test is unknown to litellm (supports_response_schema False) yet it is still forwarded
    assert litellm.supports_response_schema(model=MODEL) is False
    assert "response_format" in (litellm.get_supported_openai_params(model=MODEL) or [])
    litellm.completion(**_kw(loopback_llm, response_format=rf))
    assert loopback_llm.last_request["response_format"] == rf


def test_responder_callable_sees_request_body() -> None:
    def responder(body: dict[str, Any]) -> str:
        return "echo:" + body["messages"][-1]["content"]

    with LoopbackLLM(responder=responder) as server:
        server.script("scripted wins first")
        r1 = litellm.completion(**_kw(server))
        r2 = litellm.completion(**_kw(server))
    assert r1.choices[0].message.content == "scripted wins first"
    assert r2.choices[0].message.content == "echo:" + MESSAGES[-1]["content"]
    assert not server.running


def test_tool_calls_and_reasoning_content(loopback_llm: LoopbackLLM) -> None:
    call = {"function": {"name": "record_verdict", "arguments": {"verdict": "fail"}}}
    loopback_llm.script(Reply(content=None, reasoning_content="thinking...", tool_calls=[call]))
    resp = litellm.completion(**_kw(loopback_llm))
    msg = resp.choices[0].message
    assert resp.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls[0].function.name == "record_verdict"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"verdict": "fail"}
    assert msg.reasoning_content == "thinking..."


def test_empty_and_null_content_are_returned_as_is(loopback_llm: LoopbackLLM) -> None:
    loopback_llm.script("", Reply(content=None))
    empty = litellm.completion(**_kw(loopback_llm))
    null = litellm.completion(**_kw(loopback_llm))
    assert empty.choices[0].message.content == ""  # no exception, no retry
    assert null.choices[0].message.content is None
    assert len(loopback_llm.requests) == 2


# ------------------------------------------------------------------------ streaming


def test_litellm_streaming(loopback_llm: LoopbackLLM) -> None:
    text = '{"verdict": "fail", "rationale": "the answer contradicts the reference"}'
    loopback_llm.script(Reply(content=text, usage=(30, 12)))
    chunks = list(
        litellm.completion(**_kw(loopback_llm, stream=True, stream_options={"include_usage": True}))
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert loopback_llm.last_request["stream"] is True
    usage = [getattr(c, "usage", None) for c in chunks if getattr(c, "usage", None)]
    assert usage
    assert (usage[-1].prompt_tokens, usage[-1].completion_tokens) == (30, 12)


@pytest.mark.asyncio
async def test_langchain_chat_openai_invoke_and_stream(loopback_llm: LoopbackLLM) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(
        model="judge-test",
        base_url=loopback_llm.base_url,
        api_key="sk-test",
        max_retries=0,
        timeout=5,
    )
    loopback_llm.script("lc invoke", "lc stream")
    assert (await llm.ainvoke("hi")).content == "lc invoke"
    parts = [chunk.content async for chunk in llm.astream("hi")]
    assert "".join(str(p) for p in parts) == "lc stream"
    assert loopback_llm.requests[-1]["stream"] is True


def test_models_endpoint(loopback_llm: LoopbackLLM) -> None:
    client = openai.OpenAI(base_url=loopback_llm.base_url, api_key="sk-test", max_retries=0)
    assert [m.id for m in client.models.list()] == ["judge-test"]
    with urllib.request.urlopen(loopback_llm.base_url + "/models/judge-test") as resp:
        assert json.load(resp)["id"] == "judge-test"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "exc_type", "openai_base"),
    [
        (400, litellm.BadRequestError, openai.BadRequestError),
        (401, litellm.AuthenticationError, openai.AuthenticationError),
        (404, litellm.NotFoundError, openai.NotFoundError),
        (429, litellm.RateLimitError, openai.RateLimitError),
        (500, litellm.InternalServerError, openai.InternalServerError),
        (502, litellm.BadGatewayError, openai.APIStatusError),
        (503, litellm.ServiceUnavailableError, openai.APIStatusError),
        (504, litellm.Timeout, openai.APITimeoutError),  # a 504 surfaces as Timeout (status 504)
    ],
)
def test_http_errors_map_to_litellm_exceptions(
    loopback_llm: LoopbackLLM,
    status: int,
    exc_type: type[Exception],
    openai_base: type[Exception],
) -> None:
    loopback_llm.script(Reply(status=status, content=f"loopback says {status}"))
    with pytest.raises(exc_type) as info:
        litellm.completion(**_kw(loopback_llm))
    assert type(info.value) is exc_type
    assert isinstance(info.value, openai_base)
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert f"loopback says {status}" in str(info.value)
    assert len(loopback_llm.requests) == 1  # retries are really off


@pytest.mark.asyncio
async def test_429_async_carries_retry_after(loopback_llm: LoopbackLLM) -> None:
    loopback_llm.script(Reply(status=429, retry_after=7))
    with pytest.raises(litellm.RateLimitError) as info:
        await litellm.acompletion(**_kw(loopback_llm))
    assert info.value.status_code == 429
    assert info.value.litellm_response_headers["retry-after"] == "7"  # type: ignore[index]
    assert len(loopback_llm.requests) == 1


@pytest.mark.parametrize(
    ("message", "exc_type"),
    [
        (
            "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 9000 tokens.",
            litellm.ContextWindowExceededError,
        ),
        (
            "Invalid prompt: your prompt was flagged as potentially violating our usage policy",
            litellm.ContentPolicyViolationError,
        ),
    ],
)
def test_400_subclasses_by_message(
    loopback_llm: LoopbackLLM, message: str, exc_type: type[Exception]
) -> None:
    loopback_llm.script(Reply(status=400, content=message))
    with pytest.raises(exc_type) as info:
        litellm.completion(**_kw(loopback_llm))
    assert isinstance(info.value, litellm.BadRequestError)


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"foo": 1}'])
def test_malformed_body_raises_internal_server_error(loopback_llm: LoopbackLLM, raw: bytes) -> None:
    loopback_llm.script(Reply(raw_body=raw))
    with pytest.raises(litellm.InternalServerError) as info:
        litellm.completion(**_kw(loopback_llm))
    assert info.value.status_code == 500  # even though the HTTP status was 200
    assert len(loopback_llm.requests) == 1


def test_hang_with_timeout_raises_timeout_quickly(loopback_llm: LoopbackLLM) -> None:
    loopback_llm.script(Hang())
    start = time.perf_counter()
    with pytest.raises(litellm.Timeout) as info:
        litellm.completion(**_kw(loopback_llm, timeout=0.5))
    elapsed = time.perf_counter() - start
    assert isinstance(info.value, openai.APITimeoutError)
    assert isinstance(info.value, openai.APIConnectionError)
    assert info.value.status_code == 408
    assert 0.45 <= elapsed < 2.0, elapsed
    print(f"\nHang + timeout=0.5 -> litellm.Timeout after {elapsed:.3f}s")


@pytest.mark.asyncio
async def test_hang_with_timeout_async(loopback_llm: LoopbackLLM) -> None:
    loopback_llm.script(Hang())
    start = time.perf_counter()
    with pytest.raises(litellm.Timeout):
        await litellm.acompletion(**_kw(loopback_llm, timeout=0.5))
    assert 0.45 <= time.perf_counter() - start < 2.0


@pytest.mark.asyncio
async def test_hang_after_headers_is_a_read_timeout(loopback_llm: LoopbackLLM) -> None:
    loopback_llm.script(Hang(after_headers=True))
    with pytest.raises(litellm.Timeout):
        await litellm.acompletion(**_kw(loopback_llm, timeout=0.5))


def test_stop_is_prompt_while_a_request_hangs() -> None:
    server = LoopbackLLM().start()
    server.script(Hang())
    errors: list[BaseException] = []

    def call() -> None:
        try:
            litellm.completion(**_kw(server, timeout=30))
        except Exception as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.perf_counter()
    server.stop()
    assert time.perf_counter() - start < 1.0
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert errors  # the client saw the connection drop
    assert isinstance(errors[0], openai.APIError)


def test_connection_refused_is_internal_server_error() -> None:
    server = LoopbackLLM().start()
    base_url = server.base_url
    server.stop()  # the port is now closed
    with pytest.raises(litellm.InternalServerError) as info:
        litellm.completion(
            model=MODEL, api_base=base_url, api_key="sk-test", messages=MESSAGES, **NO_RETRIES
        )
    assert info.value.status_code == 500
    assert "Connection error" in str(info.value)
    chain = _cause_chain(info.value)
    assert openai.APIConnectionError in chain  # the only way to tell it from a real 500
    assert ConnectionRefusedError in chain


# -------------------------------------------------------------------------- retries


def test_default_retries_are_openai_sdk_max_retries_2(loopback_llm: LoopbackLLM) -> None:
    loopback_llm.script(*[Reply(status=429, retry_after=0)] * 5)
    kwargs = _kw(loopback_llm)
    del kwargs["num_retries"], kwargs["max_retries"]
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(**kwargs)
    assert len(loopback_llm.requests) == 3  # 1 + openai.DEFAULT_MAX_RETRIES (2)


@pytest.mark.parametrize("knob", ["num_retries", "max_retries"])
def test_either_knob_at_zero_disables_retries(loopback_llm: LoopbackLLM, knob: str) -> None:
    loopback_llm.script(*[Reply(status=500)] * 3)
    kwargs = _kw(loopback_llm)
    del kwargs["num_retries"], kwargs["max_retries"]
    with pytest.raises(litellm.InternalServerError):
        litellm.completion(**kwargs, **{knob: 0})
    assert len(loopback_llm.requests) == 1


# ----------------------------------------------------------------------- load test


@pytest.mark.asyncio
async def test_concurrent_acompletion_200_requests() -> None:
    n, concurrency, latency = 200, 64, 0.05
    with LoopbackLLM(latency=latency) as server:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> str:
            async with sem:
                resp = await litellm.acompletion(
                    model=MODEL,
                    api_base=server.base_url,
                    api_key="sk-test",
                    messages=[{"role": "user", "content": f"request {i}"}],
                    **NO_RETRIES,
                )
                return str(resp.choices[0].message.content)

        start = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - start
    assert results == [DEFAULT_CONTENT] * n
    assert len(server.requests) == n
    assert sorted(r["messages"][0]["content"] for r in server.requests) == sorted(
        f"request {i}" for i in range(n)
    )
    print(f"\n{n} acompletion calls, latency={latency}s, concurrency={concurrency}: {elapsed:.2f}s")
    assert elapsed < 30


# -------------------------------------------------- litellm facts judgeguard relies on


def test_mock_response_usage_and_cost_without_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network call attempted: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    resp = litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="ok")
    assert resp.choices[0].message.content == "ok"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (10, 20)  # fixed
    assert resp._hidden_params["response_cost"] == pytest.approx(litellm.completion_cost(resp))
    assert litellm.completion_cost(resp) > 0

    err = litellm.RateLimitError(message="slow down", llm_provider="openai", model="gpt-4o-mini")
    with pytest.raises(litellm.RateLimitError) as info:
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response=err)
    assert info.value is err


def test_cost_of_unknown_loopback_model(loopback_llm: LoopbackLLM) -> None:
    loopback_llm.script(Reply(content="ok", usage=(100, 50)))
    resp = litellm.completion(**_kw(loopback_llm))
    assert resp._hidden_params["response_cost"] is None
    with pytest.raises(litellm.exceptions.ModelNotMappedError):
        litellm.completion_cost(resp)
    loopback_llm.script(Reply(content="ok", usage=(100, 50)))
    priced = litellm.completion(
        **_kw(loopback_llm, input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    )
    assert priced._hidden_params["response_cost"] == pytest.approx(100 * 1e-6 + 50 * 2e-6)
