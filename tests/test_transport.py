"""The fast path for OpenAI-compatible MetaJudges (issue 13 item 1): parity with litellm.

The same checks run through both transports against the loopback server; the resulting
``Check``s must agree field by field (timing, cost and the wording of error messages
aside), and so must the requests the server received.
"""

import time

import pytest
from guard_helpers import ARENA, B_WINS, support
from loopback import Hang, LoopbackLLM, Reply

import judgeguard as jg
from judgeguard.metajudge import transport
from judgeguard.metajudge.client import RetryPolicy, acall, supports_structured_output

A_WINS = support({"A>>B": 0.5, "A>B": 0.3, "A=B": 0.1, "B>A": 0.1, "B>>A": 0.0}, claims=["x"])

#: name → (scripted replies, MetaJudge options, expected (status, reason))
SCENARIOS = {
    "consistent": ([B_WINS], {}, ("consistent", None)),
    "inconsistent": ([A_WINS], {}, ("inconsistent", None)),
    "malformed then re-ask": (["Sure! B is better.", B_WINS], {}, ("consistent", None)),
    "malformed twice": (["not json", "still not json"], {}, ("error", "no_json")),
    "empty answers": (["", ""], {}, ("error", "empty_answer")),
    "429 with Retry-After, then success": (
        [Reply(status=429, retry_after=0.2), B_WINS],
        {"retries": 1, "backoff": 10.0},
        ("consistent", None),
    ),
    "429 for good": ([Reply(status=429, retry_after=0)], {}, ("error", "rate_limited")),
    "500 then success": (
        [Reply(status=500), B_WINS],
        {"retries": 1, "backoff": 0.01},
        ("consistent", None),
    ),
    "503 for good": ([Reply(status=503)], {}, ("error", "server_error")),
    "400 not retried": ([Reply(status=400), B_WINS], {"retries": 2}, ("error", "bad_request")),
    "401": ([Reply(status=401)], {}, ("error", "auth_error")),
    "404": ([Reply(status=404)], {}, ("error", "not_found")),
    "hung server": ([Hang()], {"timeout": 0.5}, ("error", "timeout")),
    "hang after headers": ([Hang(after_headers=True)], {"timeout": 0.5}, ("error", "timeout")),
    "malformed JSON body": ([Reply(raw_body=b"{not json")], {}, None),
    "truncated JSON body": ([Reply(raw_body=b'{"id": "x", "choices": [{"mess')], {}, None),
    "empty body": ([Reply(raw_body=b"")], {}, None),
    "HTML 502": (
        [Reply(status=502, raw_body=b"<html>bad gateway</html>", content_type="text/html")],
        {},
        ("error", "server_error"),
    ),
}
IGNORED = {"latency_s", "error", "trace_id", "span_id", "evaluator_span_id"}


def run(scenario, transport_name):
    replies, options, _ = SCENARIOS[scenario]
    with LoopbackLLM() as server:
        server.script(*replies)
        mj = jg.MetaJudge(
            "openai/judge-test",
            api_base=server.base_url,
            api_key="sk-test",
            transport=transport_name,
            **{"retries": 0, "timeout": 5, **options},
        )
        started = time.perf_counter()
        check = mj.check(jg.parse(ARENA))
        elapsed = time.perf_counter() - started
        return check, server.requests, elapsed


def shape(requests):
    return [
        (
            {k: v for k, v in body.items() if k != "messages"},
            [(m["role"], len(m["content"])) for m in body["messages"]],
        )
        for body in requests
    ]


def comparable(check):
    data = check.model_dump()
    for name in IGNORED:
        data.pop(name, None)
    data["usage"].pop("cost_usd", None)
    return data


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_both_transports_give_the_same_check(scenario):
    fast, fast_requests, fast_s = run(scenario, "openai")
    slow, slow_requests, slow_s = run(scenario, "litellm")
    assert comparable(fast) == comparable(slow)
    # the same bodies (but for the fence boundary, random per call), the same attempts
    assert shape(fast_requests) == shape(slow_requests)
    assert (fast.error is None) == (slow.error is None)
    expected = SCENARIOS[scenario][2]
    if expected is not None:
        assert (fast.status, fast.reason) == expected
    if "Retry-After" in scenario:  # honoured (0.2 s), not the 10 s backoff
        assert 0.2 <= fast_s < 3 and 0.2 <= slow_s < 3


@pytest.mark.parametrize("transport_name", ["openai", "litellm"])
def test_connection_refused_is_the_same_on_both(transport_name):
    with LoopbackLLM() as server:
        url = server.base_url
    c = jg.MetaJudge(
        "openai/judge-test", api_base=url, api_key="k", retries=0, transport=transport_name
    ).check(jg.parse(ARENA))
    assert (c.status, c.reason, c.usage.calls) == ("error", "connection_error", 1)


def test_connection_refused_is_retried_on_the_fast_path():
    with LoopbackLLM() as server:
        url = server.base_url
    t = time.perf_counter()
    c = jg.MetaJudge("openai/judge-test", api_base=url, api_key="k", retries=2, backoff=0.01).check(
        jg.parse(ARENA)
    )
    assert (c.reason, c.usage.calls) == ("connection_error", 3)
    assert time.perf_counter() - t < 2


# -- which calls take the fast path ---------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "options", "fast"),
    [
        ("openai/gpt-4o-mini", {"api_key": "k"}, True),
        ("openai/judge", {"api_base": "http://h/v1", "temperature": 0}, True),
        ("hosted_vllm/qwen", {"api_base": "http://h/v1"}, True),
        ("hosted_vllm/qwen", {}, False),  # no endpoint: litellm reports it
        ("anthropic/claude-3-5-haiku", {"api_key": "k"}, False),
        ("gpt-4o-mini", {"api_key": "k"}, False),  # no prefix: litellm routes it
        ("openai/judge", {"api_base": "http://h", "mock_response": "x"}, False),
        ("openai/judge", {"api_base": "http://h", "num_retries": 3}, False),
        ("openai/judge", {"api_base": "http://h", "transport": "litellm"}, False),
        ("my-model", {"api_base": "http://h/v1", "transport": "openai"}, True),
        ("openai/judge", {"api_base": "http://h", "custom_llm_provider": "azure"}, False),
    ],
)
def test_route(model, options, fast):
    assert (transport.route(model, options) is not None) is fast


def test_endpoint_and_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env/v1/")
    r = transport.route("openai/judge", {})
    assert r is not None and r.url == "http://env/v1/chat/completions" and r.model == "judge"
    assert ("Authorization", "Bearer sk-env") in r.headers
    # the route is remembered per environment: the same call sees a changed variable
    monkeypatch.setenv("OPENAI_API_KEY", "sk-rotated")
    r = transport.route("openai/judge", {})
    assert r is not None and ("Authorization", "Bearer sk-rotated") in r.headers
    monkeypatch.delenv("OPENAI_BASE_URL")
    r = transport.route("openai/judge", {"api_key": "sk-arg"})
    assert r is not None and r.url == "https://api.openai.com/v1/chat/completions"
    assert ("Authorization", "Bearer sk-arg") in r.headers
    monkeypatch.setenv("HOSTED_VLLM_API_BASE", "http://vllm:8000/v1")
    r = transport.route("hosted_vllm/qwen", {})
    assert r is not None and r.url == "http://vllm:8000/v1/chat/completions"


def test_an_unknown_transport_is_a_clear_error():
    with pytest.raises(ValueError, match="transport"):
        jg.MetaJudge("openai/x", transport="grpc")


def test_the_transport_option_is_not_part_of_the_cache_key():
    a = jg.MetaJudge("openai/x", api_base="http://h/v1", transport="openai")
    b = jg.MetaJudge("openai/x", api_base="http://h/v1")
    assert a.sampling_key() == b.sampling_key()


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "openai/gpt-4o", "openai/judge-test"])
def test_cost_and_schema_support_match_litellm(model):
    from judgeguard.metajudge.client import _supports_schema, import_litellm

    litellm = import_litellm()
    r = transport.route(model, {"api_key": "k"})
    assert r is not None
    assert supports_structured_output(model, {"api_key": "k"}) == _supports_schema(model, None)
    try:
        expected_in, expected_out = litellm.cost_per_token(
            model=model, prompt_tokens=1000, completion_tokens=200
        )
        expected = expected_in + expected_out
    except Exception:  # litellm does not know the price
        expected = None
    got = transport.cost_usd(r, r.model, 1000, 200)
    assert got == pytest.approx(expected) if expected is not None else got is None


async def test_usage_and_cost_are_read_from_the_answer(loopback_llm):
    loopback_llm.script(Reply(content="hi", usage=(123, 45)))
    result = await acall(
        "openai/gpt-4o-mini",
        [{"role": "user", "content": "x"}],
        {"api_base": loopback_llm.base_url, "api_key": "k", "transport": "openai"},
        policy=RetryPolicy(0),
        timeout=5,
    )
    assert (result.text, result.input_tokens, result.output_tokens) == ("hi", 123, 45)
    assert result.cost_usd is not None and result.cost_usd > 0
    assert result.response_id and result.response_model == "gpt-4o-mini"
    assert loopback_llm.request_headers[-1]["authorization"] == "Bearer k"


def test_one_session_per_event_loop_reused_and_closed(loopback_llm):
    import asyncio

    async def two_calls():
        for _ in range(2):
            await acall(
                "openai/judge-test",
                [{"role": "user", "content": "x"}],
                {"api_base": loopback_llm.base_url, "api_key": "k", "transport": "openai"},
                policy=RetryPolicy(0),
                timeout=5,
            )
        return transport._session()

    first = asyncio.run(two_calls())
    second = asyncio.run(two_calls())
    assert first is not second  # a new loop gets its own session
    assert first.closed  # the dead loop's session was closed when the next was made
    transport.close_all()
    assert second.closed


def test_a_forked_child_makes_its_own_session(loopback_llm):
    import asyncio
    import os

    async def call():
        return await acall(
            "openai/judge-test",
            [{"role": "user", "content": "x"}],
            {"api_base": loopback_llm.base_url, "api_key": "k", "transport": "openai"},
            policy=RetryPolicy(0),
            timeout=5,
        )

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(call())
        parent_session = transport._sessions[id(loop)][1]
        pid = os.fork()
        if pid == 0:  # the child: the parent's pooled sockets are forgotten, not shared
            code = 1
            try:
                forgotten = id(loop) not in transport._sessions
                loop.run_until_complete(call())
                fresh = transport._sessions[id(loop)][1] is not parent_session
                code = 0 if forgotten and fresh else 2
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not parent_session.closed  # the child did not close the parent's pool
        loop.run_until_complete(call())  # and the parent's still works
    finally:
        transport.close_all()
        loop.close()


def test_a_forced_fast_path_sends_no_litellm_option_and_honours_num_retries(loopback_llm):
    import asyncio

    loopback_llm.script(Reply(status=500), Reply(status=500), "ok")
    options = {
        "api_base": loopback_llm.base_url,
        "api_key": "k",
        "transport": "openai",
        "num_retries": 2,
        "metadata": {"run": 1},
        "temperature": 0,
    }
    result = asyncio.run(
        acall(
            "my-model",
            [{"role": "user", "content": "x"}],
            options,
            policy=RetryPolicy(0, 0.01),
            timeout=5,
        )
    )
    assert (result.text, result.attempts) == ("ok", 3)
    assert loopback_llm.requests[-1].keys() == {"model", "messages", "temperature"}
    assert loopback_llm.requests[-1]["model"] == "my-model"


def test_proxies_from_the_environment(monkeypatch):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert transport._proxy("https://api.openai.com/v1/chat/completions") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,internal.example")
    assert transport._proxy("https://api.openai.com/v1/chat/completions") == "http://proxy:3128"
    assert transport._proxy("https://internal.example/v1/chat/completions") is None
    assert transport._proxy("http://gpu:8000/v1/chat/completions") is None  # no HTTP_PROXY
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:8080")  # the same URL sees the change
    assert transport._proxy("http://gpu:8000/v1/chat/completions") == "http://proxy:8080"
