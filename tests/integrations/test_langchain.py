"""judgeguard-langchain: the guarded runnable and the callback handler, with LangChain's
fake chat models and with ChatOpenAI talking to the loopback OpenAI-compatible server."""

import asyncio
import json
import threading
import time
from types import SimpleNamespace
from typing import Literal

import pytest
from judgeguard_langchain import (
    CHECK_EVENT,
    JudgeGuardCallbackHandler,
    JudgeGuardRunnable,
    check_summary,
    context_from_input,
)
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableGenerator, RunnableLambda
from langchain_core.tracers.base import BaseTracer
from loopback import Reply
from pydantic import BaseModel

import judgeguard as jg

B_WINS = json.dumps(
    {
        "probabilities": {"A>>B": 0.0, "A>B": 0.05, "A=B": 0.05, "B>A": 0.3, "B>>A": 0.6},
        "explanation": "B is right.",
        "unsupported_claims": [],
    }
)
B_WINS_3 = json.dumps(
    {
        "probabilities": {"A>B": 0.05, "A=B": 0.05, "B>A": 0.9},
        "explanation": "B is right.",
        "unsupported_claims": [],
    }
)
INPUT = {"question": "Write binary search", "answer_a": "loop A", "answer_b": "loop B"}
PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "You are a fair judge. End with [[A>>B]] … [[B>>A]]."),
        ("human", "{question}\n\nA: {answer_a}\n\nB: {answer_b}"),
    ]
)


def verdict_text(i=0, verdict="B>>A"):
    return (
        f"Case {i}: Assistant A's loop skips the last element; Assistant B's loop is "
        f"correct and handles the empty list.\n\nMy final verdict is: [[{verdict}]]"
    )


pytestmark = pytest.mark.usefixtures("isolated_judgeguard")


def mj_for(server, **kw):
    kw.setdefault("retries", 0)
    kw.setdefault("timeout", 5)
    return jg.MetaJudge("openai/metajudge-test", api_base=server.base_url, api_key="k", **kw)


def meta_prompt(server, i=0):
    """The user message of the i-th MetaJudge request the loopback server received."""
    metas = [r for r in server.requests if r.get("model") == "metajudge-test"]
    return metas[i]["messages"][1]["content"]


def fake_model(*texts, repeat=1):
    return GenericFakeChatModel(messages=iter([t for t in texts for _ in range(repeat)]))


class Events(BaseCallbackHandler):
    """Records custom events and chain starts (a sync handler)."""

    def __init__(self):
        self.events = []
        self.chains = []

    def on_custom_event(self, name, data, *, run_id, **kwargs):
        self.events.append((name, data, run_id))

    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kwargs):
        self.chains.append((kwargs.get("name"), run_id, parent_run_id, kwargs.get("tags")))


class AsyncEvents(AsyncCallbackHandler):
    def __init__(self):
        self.events = []

    async def on_custom_event(self, name, data, *, run_id, **kwargs):
        self.events.append((name, data, run_id))


class Runs(BaseTracer):
    """A tracer that keeps every finished run, like LangSmith's or OpenInference's."""

    def __init__(self):
        super().__init__()
        self.ended = []

    def _persist_run(self, run):
        pass

    def _end_trace(self, run):
        self.ended.append(run)
        super()._end_trace(run)

    def named(self, name):
        return [r for r in self.ended if r.name == name]


def test_importing_the_integration_keeps_jg_guard_the_decorator():
    # a submodule named like the decorator would replace jg.guard once imported
    import judgeguard.guarding  # noqa: F401

    assert callable(jg.guard) and jg.guard.__module__ == "judgeguard.guarding"


# -- identity, invoke / ainvoke / batch / abatch ------------------------------------------
def test_invoke_returns_the_very_same_object_and_checks(loopback_llm):
    loopback_llm.script(B_WINS)
    sentinel = AIMessage(content=verdict_text())
    results = []
    guarded = JudgeGuardRunnable(
        RunnableLambda(lambda _: sentinel),
        metajudge=mj_for(loopback_llm),
        on_result=results.append,
    )
    assert guarded.invoke(INPUT) is sentinel
    assert jg.flush(10) == 0
    (check,) = results
    assert check.status == "consistent" and check.judgment.verdict.render() == "B>>A"
    prompt = meta_prompt(loopback_llm)
    assert "Write binary search" in prompt and "RESPONSE_A" in prompt  # context from keys


async def test_ainvoke_identity_and_handle(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    sentinel = {"reasoning": "A skips the last element; B is correct.", "winner": "B"}

    async def judge(_):
        await asyncio.sleep(0)
        return sentinel

    guarded = JudgeGuardRunnable(RunnableLambda(judge), metajudge=mj_for(loopback_llm))
    assert await guarded.ainvoke(INPUT) is sentinel
    handle = await guarded.ainvoke_with_check(INPUT)
    assert handle.output is sentinel
    check = await handle.acheck()
    assert check.status in ("consistent", "inconsistent") and check.verdict.render() == "B>A"


def test_invoke_with_check_handle(loopback_llm):
    loopback_llm.script(B_WINS)
    guarded = JudgeGuardRunnable(
        PROMPT | fake_model(verdict_text()) | StrOutputParser(), metajudge=mj_for(loopback_llm)
    )
    r = guarded.invoke_with_check(INPUT)
    assert r.output == verdict_text()
    assert r.judgment.verdict.render() == "B>>A"
    assert r.check(10).status == "consistent" and r.reward(10) == 0.0 and r.done()


def _concurrency_probe():
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    outputs = {}

    def enter():
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])

    def leave():
        with lock:
            state["now"] -= 1

    def output_for(i):
        return outputs.setdefault(i, {"reasoning": f"case {i}: B is right", "winner": "B"})

    return state, enter, leave, output_for


def test_batch_keeps_order_identity_and_max_concurrency(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS_3
    state, enter, leave, output_for = _concurrency_probe()

    def judge(x):
        enter()
        time.sleep(0.05)
        leave()
        return output_for(x["i"])

    results = []
    guarded = JudgeGuardRunnable(
        RunnableLambda(judge), metajudge=mj_for(loopback_llm), on_result=results.append
    )
    outs = guarded.batch([{"i": i} for i in range(6)], {"max_concurrency": 2})
    assert all(out is output_for(i) for i, out in enumerate(outs))
    assert state["max"] == 2
    assert jg.flush(10) == 0 and len(results) == 6
    assert {c.status for c in results} == {"consistent"}


async def test_abatch_keeps_order_identity_and_max_concurrency(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS_3
    state, enter, leave, output_for = _concurrency_probe()

    async def judge(x):
        enter()
        await asyncio.sleep(0.05)
        leave()
        return output_for(x["i"])

    results = []
    guarded = JudgeGuardRunnable(
        RunnableLambda(judge), metajudge=mj_for(loopback_llm), on_result=results.append
    )
    outs = await guarded.abatch([{"i": i} for i in range(6)], {"max_concurrency": 3})
    assert all(out is output_for(i) for i, out in enumerate(outs))
    assert state["max"] == 3
    assert await asyncio.to_thread(jg.flush, 10) == 0 and len(results) == 6


def test_batch_return_exceptions_passes_judge_errors_through(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS

    def judge(x):
        if x["i"] == 1:
            raise ValueError("judge broke")
        return verdict_text(x["i"])

    guarded = JudgeGuardRunnable(RunnableLambda(judge), metajudge=mj_for(loopback_llm))
    outs = guarded.batch([{"i": 0}, {"i": 1}], return_exceptions=True)
    assert outs[0] == verdict_text(0) and isinstance(outs[1], ValueError)


def test_judge_exceptions_propagate_unchanged(loopback_llm):
    boom = KeyError("judge broke")

    def judge(_):
        raise boom

    guarded = JudgeGuardRunnable(RunnableLambda(judge), metajudge=mj_for(loopback_llm))
    with pytest.raises(KeyError) as info:
        guarded.invoke(INPUT)
    assert info.value is boom
    assert loopback_llm.requests == []


# -- streaming ----------------------------------------------------------------------------
def test_stream_passes_every_chunk_through_untouched_and_checks_the_whole(loopback_llm):
    loopback_llm.script(B_WINS)
    pieces = [AIMessageChunk(content=p) for p in verdict_text().split(" ")]
    for p in pieces[:-1]:
        p.content += " "

    def gen(inputs):
        for _ in inputs:
            pass
        yield from pieces

    results = []
    guarded = JudgeGuardRunnable(
        RunnableGenerator(gen), metajudge=mj_for(loopback_llm), on_result=results.append
    )
    chunks = list(guarded.stream(INPUT))
    assert len(chunks) == len(pieces) and all(c is p for c, p in zip(chunks, pieces, strict=True))
    assert jg.flush(10) == 0
    (check,) = results
    assert check.status == "consistent" and check.judgment.raw == verdict_text()


async def test_astream_chat_model_chunks_are_merged_for_the_check(loopback_llm):
    loopback_llm.script(B_WINS)
    guarded = JudgeGuardRunnable(
        PROMPT | fake_model(verdict_text()), metajudge=mj_for(loopback_llm), wait=True
    )
    events = AsyncEvents()
    chunks = [c async for c in guarded.astream(INPUT, {"callbacks": [events]})]
    assert len(chunks) > 5 and all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(c.content for c in chunks) == verdict_text()
    ((name, data, _),) = events.events
    assert name == CHECK_EVENT and data["status"] == "consistent" and data["verdict"] == "B>>A"


def test_stream_of_unaddable_chunks_checks_the_last(loopback_llm):
    loopback_llm.script(B_WINS_3)
    growing = [
        {"reasoning": "A skips"},
        {"reasoning": "A skips the last element; B is right."},
        {"reasoning": "A skips the last element; B is right.", "winner": "B"},
    ]

    def gen(inputs):
        for _ in inputs:
            pass
        yield from growing

    guarded = JudgeGuardRunnable(RunnableGenerator(gen), metajudge=mj_for(loopback_llm), wait=True)
    assert list(guarded.stream(INPUT)) == growing
    assert jg.flush(10) == 0
    assert loopback_llm.requests and "B is right" in meta_prompt(loopback_llm)


def test_stream_abandoned_early_is_not_checked(loopback_llm):
    results = []
    guarded = JudgeGuardRunnable(
        PROMPT | fake_model(verdict_text()),
        metajudge=mj_for(loopback_llm),
        on_result=results.append,
    )
    stream = guarded.stream(INPUT)
    next(stream)
    stream.close()
    assert jg.flush(10) == 0 and results == [] and loopback_llm.requests == []


def test_streaming_through_a_sequence_uses_transform(loopback_llm):
    loopback_llm.script(B_WINS)
    chain = (
        RunnableLambda(lambda x: {**x, "question": x["question"].upper()})
        | JudgeGuardRunnable(PROMPT | fake_model(verdict_text()), metajudge=mj_for(loopback_llm))
        | StrOutputParser()
    )
    out = "".join(chain.stream(INPUT))
    assert out == verdict_text()
    assert jg.flush(10) == 0
    assert "WRITE BINARY SEARCH" in meta_prompt(loopback_llm)  # context of the streamed input


# -- composition, config and callbacks ----------------------------------------------------
def test_composes_with_pipe_with_config_and_with_retry(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    calls = {"n": 0}

    def flaky(_):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("transient")
        return verdict_text()

    results = []
    guarded = JudgeGuardRunnable(
        RunnableLambda(flaky), metajudge=mj_for(loopback_llm), on_result=results.append
    )
    chain = (
        guarded.with_retry(stop_after_attempt=2, wait_exponential_jitter=False).with_config(
            run_name="my judge", tags=["judges"]
        )
        | StrOutputParser()
        | RunnableLambda(lambda s: s.splitlines()[-1])
    )
    events = Events()
    assert chain.invoke(INPUT, {"callbacks": [events]}) == "My final verdict is: [[B>>A]]"
    assert calls["n"] == 2
    assert jg.flush(10) == 0 and [c.status for c in results] == ["consistent"]
    names = [name for name, *_ in events.chains]
    assert "my judge" in names
    judge_runs = [c for c in events.chains if c[0] == "my judge"]
    assert all("judges" in tags for *_, tags in judge_runs)


def test_config_and_callbacks_reach_the_wrapped_runnable():
    seen = {}

    def judge(x, config):
        seen["config"] = config
        return verdict_text()

    events = Events()
    guarded = JudgeGuardRunnable(RunnableLambda(judge), name="arena judge")
    guarded.invoke(
        INPUT,
        {"callbacks": [events], "tags": ["t1"], "metadata": {"k": "v"}, "configurable": {"x": 1}},
    )
    config = seen["config"]
    assert "t1" in config["tags"] and config["metadata"]["k"] == "v"
    assert config["configurable"]["x"] == 1
    (guard_run,) = [c for c in events.chains if c[0] == "arena judge"]
    inner = [c for c in events.chains if c[2] == guard_run[1]]
    assert inner, "the wrapped runnable runs as a child of the guard's run"


def test_input_and_output_schema_delegate():
    chain = PROMPT | fake_model(verdict_text()) | StrOutputParser()
    guarded = JudgeGuardRunnable(chain)
    assert guarded.input_schema.model_json_schema() == chain.input_schema.model_json_schema()
    assert guarded.output_schema.model_json_schema() == chain.output_schema.model_json_schema()
    assert guarded.InputType == chain.InputType and guarded.OutputType == chain.OutputType
    assert guarded.get_name() == "JudgeGuard"


# -- context -----------------------------------------------------------------------------
def test_context_from_input_keys_and_label(loopback_llm):
    loopback_llm.script(B_WINS)
    guarded = JudgeGuardRunnable(
        RunnableLambda(lambda _: verdict_text()), metajudge=mj_for(loopback_llm)
    )
    check = guarded.invoke_with_check({**INPUT, "label": "B>A"}).check(10)
    assert check.r_outcome == 1.0 and check.reward == pytest.approx(0.9)


def test_context_mapping_list_and_function(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    judge = RunnableLambda(lambda _: verdict_text())
    by_map = JudgeGuardRunnable(
        judge,
        metajudge=mj_for(loopback_llm),
        cache=False,
        context={"question": "query", "label": "gold"},
    )
    c = by_map.invoke_with_check({"query": "Sort a list", "gold": "A>B"}).check(10)
    assert c.r_outcome == 0.0 and "Sort a list" in meta_prompt(loopback_llm, 0)
    by_list = JudgeGuardRunnable(
        judge, metajudge=mj_for(loopback_llm), cache=False, context=["rubric"]
    )
    by_list.invoke_with_check({"rubric": "Correctness only", "question": "ignored"}).check(10)
    assert "Correctness only" in meta_prompt(loopback_llm, 1)
    assert "ignored" not in meta_prompt(loopback_llm, 1)
    by_fn = JudgeGuardRunnable(
        judge,
        metajudge=mj_for(loopback_llm),
        cache=False,
        context=lambda x: {"question": x["q"].upper()},
    )
    by_fn.invoke_with_check({"q": "hello"}).check(10)
    assert "HELLO" in meta_prompt(loopback_llm, 2)


def test_an_input_without_the_context_keys_still_returns_the_judges_output():
    calls = []
    judge = RunnableLambda(lambda x: calls.append(x) or verdict_text())
    guarded = JudgeGuardRunnable(judge, context={"question": "nope"})
    assert guarded.invoke(INPUT) == verdict_text()  # the guard never adds an error
    assert calls == [INPUT]
    check = guarded.invoke_with_check(INPUT).check(10)
    assert (check.status, check.reason) == ("error", "bad_context")
    assert "nope" in check.error
    with pytest.raises(jg.GuardConfigError):
        JudgeGuardRunnable(judge, context="question")
    with pytest.raises(jg.GuardConfigError):
        JudgeGuardRunnable(judge, context=42)


def test_context_from_non_dict_inputs():
    assert context_from_input(None, "Is 2+2=4?") == {"question": "Is 2+2=4?"}
    messages = [SystemMessage("be fair"), HumanMessage("Which is better?"), AIMessage("hm")]
    assert context_from_input(None, messages) == {"question": "Which is better?"}
    prompt_value = PROMPT.invoke(INPUT)
    assert context_from_input(None, prompt_value)["question"].startswith("Write binary search")
    openevals = {"inputs": "q", "outputs": "a", "reference_outputs": "gold answer"}
    assert context_from_input(None, openevals) == {
        "question": "q",
        "response": "a",
        "reference_answer": "gold answer",
    }


# -- LangChain-native visibility ----------------------------------------------------------
def test_wait_true_sends_the_check_as_custom_event_and_run_metadata(loopback_llm):
    loopback_llm.script(B_WINS)
    events, runs = Events(), Runs()
    guarded = JudgeGuardRunnable(
        PROMPT | fake_model(verdict_text()) | StrOutputParser(),
        metajudge=mj_for(loopback_llm),
        wait=True,
    )
    guarded.invoke(INPUT, {"callbacks": [events, runs]})
    ((name, data, run_id),) = events.events
    assert name == "judgeguard.check"
    assert data["status"] == "consistent" and data["verdict"] == "B>>A"
    assert data["r_rationale"] == pytest.approx(0.9) and data["reward"] == 0.0
    assert data["needs_review"] is False and data["reason"] is None
    (run,) = runs.named("JudgeGuard")
    assert run.id == run_id  # the event belongs to the guard's run
    meta = run.extra["metadata"]
    assert meta["judgeguard.status"] == "consistent" and meta["judgeguard.verdict"] == "B>>A"
    assert meta["judgeguard.r_rationale"] == pytest.approx(0.9)
    assert meta["judgeguard.reward"] == 0.0 and meta["judgeguard.needs_review"] is False


def test_langsmith_tracer_sends_the_check_with_the_run(loopback_llm):
    from unittest.mock import MagicMock

    import langsmith
    from langchain_core.tracers.langchain import LangChainTracer

    loopback_llm.script(B_WINS)
    client = MagicMock(spec=langsmith.Client)  # records the API calls, no network
    tracer = LangChainTracer(client=client, project_name="judges")
    guarded = JudgeGuardRunnable(
        RunnableLambda(lambda _: verdict_text()), metajudge=mj_for(loopback_llm), wait=True
    )
    guarded.invoke(INPUT, {"callbacks": [tracer], "metadata": {"user": "u1"}})
    tracer.wait_for_futures()
    (update,) = [
        c.kwargs for c in client.update_run.call_args_list if c.kwargs["name"] == "JudgeGuard"
    ]
    meta = update["extra"]["metadata"]
    assert meta["user"] == "u1" and meta["judgeguard.status"] == "consistent"
    assert meta["judgeguard.r_rationale"] == pytest.approx(0.9)
    assert meta["judgeguard.needs_review"] is False


async def test_wait_false_sends_a_pending_event_at_the_end_of_the_run(loopback_llm):
    loopback_llm.script(Reply(content=B_WINS, delay=0.3))
    results = []
    guarded = JudgeGuardRunnable(
        PROMPT | fake_model(verdict_text()) | StrOutputParser(),
        metajudge=mj_for(loopback_llm),
        on_result=results.append,
    )
    events, runs = AsyncEvents(), Runs()
    t = time.perf_counter()
    await guarded.ainvoke(INPUT, {"callbacks": [events, runs]})
    assert time.perf_counter() - t < 0.25  # the run did not wait for the MetaJudge
    ((_, data, _),) = events.events
    assert data["status"] == "pending" and data["verdict"] == "B>>A"
    assert data["r_rationale"] is None
    (run,) = runs.named("JudgeGuard")
    assert run.extra["metadata"]["judgeguard.status"] == "pending"
    assert await asyncio.to_thread(jg.flush, 10) == 0
    assert results[0].status == "consistent"
    assert check_summary(results[0])["verdict"] == "B>>A"


async def test_astream_events_shows_the_check(loopback_llm):
    loopback_llm.script(B_WINS)
    guarded = JudgeGuardRunnable(
        PROMPT | fake_model(verdict_text()) | StrOutputParser(),
        metajudge=mj_for(loopback_llm),
        wait=True,
    )
    custom = [
        e
        async for e in guarded.astream_events(INPUT, version="v2")
        if e["event"] == "on_custom_event"
    ]
    assert [e["name"] for e in custom] == ["judgeguard.check"]
    assert custom[0]["data"]["status"] == "consistent"


def test_failing_metajudge_never_breaks_the_chain(loopback_llm):
    loopback_llm.responder = lambda body: Reply(status=500)
    results, events = [], Events()
    chain = PROMPT | fake_model(verdict_text(), repeat=3) | StrOutputParser()
    background = JudgeGuardRunnable(chain, metajudge=mj_for(loopback_llm), on_result=results.append)
    assert background.invoke(INPUT) == verdict_text()
    waiting = JudgeGuardRunnable(
        chain, metajudge=mj_for(loopback_llm), wait=True, on_result=results.append
    )
    assert waiting.invoke(INPUT, {"callbacks": [events]}) == verdict_text()
    assert "".join(waiting.stream(INPUT)) == verdict_text()
    assert jg.flush(15) == 0
    assert [c.status for c in results] == ["error"] * 3
    assert all(c.reward is None for c in results)
    assert events.events[0][1]["status"] == "error"


def test_unparsed_output_is_recorded_not_scored(loopback_llm):
    guarded = JudgeGuardRunnable(
        RunnableLambda(lambda _: "I cannot decide."), metajudge=mj_for(loopback_llm)
    )
    r = guarded.invoke_with_check(INPUT)
    assert r.output == "I cannot decide."
    check = r.check(10)
    assert (check.status, check.reason) == ("unparsed", "verdict_not_found")
    assert loopback_llm.requests == []


def test_without_metajudge_checks_end_skipped():
    guarded = JudgeGuardRunnable(RunnableLambda(lambda _: verdict_text()))
    c = guarded.invoke_with_check({**INPUT, "label": "B>>A"}).check(10)
    assert (c.status, c.reason, c.r_outcome) == ("skipped", "no_metajudge", 1.0)


# -- callback handler ---------------------------------------------------------------------
def test_callback_handler_checks_a_chat_model_it_is_attached_to(loopback_llm):
    loopback_llm.script(B_WINS)
    results = []
    handler = JudgeGuardCallbackHandler(metajudge=mj_for(loopback_llm), on_result=results.append)
    model = FakeListChatModel(responses=[verdict_text()])
    messages = [SystemMessage("Judge fairly."), HumanMessage("Which loop is right, A or B?")]
    out = model.invoke(messages, config={"callbacks": [handler]})
    assert out.content == verdict_text()
    (check,) = handler.checks(10)
    assert check.status == "consistent" and check.judgment.verdict.render() == "B>>A"
    assert results == [check]
    (run_id,) = handler.results
    assert handler.results[run_id].output.content == verdict_text()
    assert "Which loop is right" in meta_prompt(loopback_llm)  # last human message
    handler.clear()
    assert handler.results == {}


async def test_callback_handler_in_async_runs_and_streams(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    handler = JudgeGuardCallbackHandler(metajudge=mj_for(loopback_llm), cache=False)
    chain = PROMPT | fake_model(verdict_text(), repeat=2).with_config(callbacks=[handler])
    out = await chain.ainvoke(INPUT)
    assert out.content == verdict_text()
    chunks = [c async for c in chain.astream(INPUT)]
    assert "".join(c.content for c in chunks) == verdict_text()
    checks = await asyncio.to_thread(handler.checks, 10)
    assert [c.status for c in checks] == ["consistent", "consistent"]
    assert checks[1].judgment.raw == verdict_text()  # the streamed message, merged


def test_callback_handler_context_from_metadata_and_function(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    handler = JudgeGuardCallbackHandler(
        metajudge=mj_for(loopback_llm),
        context=lambda messages: {"question": messages[-1].content.upper()},
        cache=False,
    )
    model = FakeListChatModel(responses=[verdict_text()])
    model.invoke(
        [HumanMessage("which is right?")],
        config={"callbacks": [handler], "metadata": {"judgeguard_context": {"label": "B>A"}}},
    )
    (check,) = handler.checks(10)
    assert check.r_outcome == 1.0 and "WHICH IS RIGHT?" in meta_prompt(loopback_llm)
    with pytest.raises(jg.GuardConfigError):
        JudgeGuardCallbackHandler(context=42)


# -- a real chat model class against the loopback server ----------------------------------
def _loopback_responder(judge_reply):
    def respond(body):
        if body["model"] == "metajudge-test":
            return B_WINS
        return judge_reply

    return respond


def _chat_openai(server, **kw):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=server.base_url, api_key="k", model="judge-test", max_retries=0, **kw
    )


def test_chat_openai_invoke_batch_stream(loopback_llm):
    loopback_llm.responder = _loopback_responder(verdict_text())
    results = []
    guarded = JudgeGuardRunnable(
        PROMPT | _chat_openai(loopback_llm) | StrOutputParser(),
        metajudge=mj_for(loopback_llm),
        on_result=results.append,
        cache=False,
    )
    assert guarded.invoke(INPUT) == verdict_text()
    assert guarded.batch([INPUT, INPUT], {"max_concurrency": 2}) == [verdict_text()] * 2
    assert "".join(guarded.stream(INPUT)) == verdict_text()
    assert jg.flush(10) == 0
    assert [c.status for c in results] == ["consistent"] * 4
    judge_requests = [r for r in loopback_llm.requests if r["model"] == "judge-test"]
    assert len(judge_requests) == 4 and judge_requests[-1].get("stream") is True


async def test_chat_openai_ainvoke_abatch_astream(loopback_llm):
    loopback_llm.responder = _loopback_responder(verdict_text())
    results = []
    model = _chat_openai(loopback_llm)
    guarded = JudgeGuardRunnable(
        PROMPT | model, metajudge=mj_for(loopback_llm), on_result=results.append, cache=False
    )
    msg = await guarded.ainvoke(INPUT)
    assert msg.content == verdict_text()
    outs = await guarded.abatch([INPUT, INPUT], {"max_concurrency": 2})
    assert [o.content for o in outs] == [verdict_text()] * 2
    chunks = [c async for c in guarded.astream(INPUT)]
    assert "".join(c.content for c in chunks) == verdict_text()
    assert await asyncio.to_thread(jg.flush, 10) == 0
    assert [c.status for c in results] == ["consistent"] * 4


class PairwiseVerdict(BaseModel):
    reasoning: str
    winner: Literal["A", "B", "tie"]


def test_chat_openai_structured_output(loopback_llm):
    args = {"reasoning": "A skips the last element; B handles every case.", "winner": "B"}
    tool_call = {"function": {"name": "PairwiseVerdict", "arguments": json.dumps(args)}}

    def respond(body):
        if body["model"] == "metajudge-test":
            return B_WINS_3
        return Reply(content=None, tool_calls=[tool_call])

    loopback_llm.responder = respond
    judge = PROMPT | _chat_openai(loopback_llm).with_structured_output(
        PairwiseVerdict, method="function_calling"
    )
    r = JudgeGuardRunnable(judge, metajudge=mj_for(loopback_llm)).invoke_with_check(INPUT)
    assert isinstance(r.output, PairwiseVerdict) and r.output.winner == "B"
    check = r.check(10)
    assert check.status == "consistent" and check.verdict.render() == "B>A"


def test_chat_openai_failing_metajudge_and_callback_handler(loopback_llm):
    def respond(body):
        if body["model"] == "metajudge-test":
            return Reply(status=500)
        return verdict_text()

    loopback_llm.responder = respond
    handler = JudgeGuardCallbackHandler(metajudge=mj_for(loopback_llm))
    guarded = JudgeGuardRunnable(
        PROMPT | _chat_openai(loopback_llm) | StrOutputParser(),
        metajudge=mj_for(loopback_llm),
        wait=True,
    )
    events = Events()
    out = guarded.invoke(INPUT, {"callbacks": [handler, events]})
    assert out == verdict_text()
    assert events.events[0][1]["status"] == "error"
    (check,) = handler.checks(10)  # the handler saw the ChatOpenAI run inside the chain
    assert check.status == "error" and check.reward is None


# -- OpenTelemetry: the judge span around the wrapped call, the evaluator span ------------
@pytest.fixture
def spans():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield SimpleNamespace(exporter=exporter, telemetry=jg.Telemetry(tracer_provider=provider))
    provider.shutdown()


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_judge_span_and_its_evaluator_child_span(loopback_llm, spans, mode):
    loopback_llm.script(B_WINS)
    guarded = JudgeGuardRunnable(
        PROMPT | fake_model(verdict_text()) | StrOutputParser(),
        metajudge=mj_for(loopback_llm),
        telemetry=spans.telemetry,
        name="arena",
    )
    if mode == "invoke":
        guarded.invoke(INPUT)
    else:
        assert "".join(guarded.stream(INPUT)) == verdict_text()
    assert jg.flush(10) == 0
    by_name = {s.name: s for s in spans.exporter.get_finished_spans()}
    judge = by_name["judge arena"]
    evaluator = next(s for s in by_name.values() if s.name.startswith("evaluate"))
    # the verdict is on the evaluator span: the judge's thread never parses
    assert "judgeguard.verdict" not in judge.attributes
    assert evaluator.attributes["judgeguard.verdict"] == "B>>A"
    # a background check too is a child of the judge span, in its trace (issue 15)
    assert evaluator.parent.span_id == judge.context.span_id
    assert evaluator.context.trace_id == judge.context.trace_id


async def test_wait_true_evaluator_span_is_a_child_of_the_judge_span(loopback_llm, spans):
    loopback_llm.script(B_WINS)
    guarded = JudgeGuardRunnable(
        PROMPT | fake_model(verdict_text()) | StrOutputParser(),
        metajudge=mj_for(loopback_llm),
        telemetry=spans.telemetry,
        wait=True,
    )
    await guarded.ainvoke(INPUT)
    finished = spans.exporter.get_finished_spans()
    judge = next(s for s in finished if s.name.startswith("judge "))
    evaluator = next(s for s in finished if s.name.startswith("evaluate"))
    assert evaluator.parent is not None and evaluator.parent.span_id == judge.context.span_id


async def test_abandoned_streams_end_their_judge_span_cleanly(spans, caplog):
    guarded = JudgeGuardRunnable(
        PROMPT | fake_model(verdict_text(), repeat=3) | StrOutputParser(),
        telemetry=spans.telemetry,
    )
    agen = guarded.astream(INPUT)
    await agen.__anext__()
    await agen.aclose()  # closed from the test's context, not the stream's
    await asyncio.sleep(0.1)  # the event loop finalizes the inner async generators
    stream = guarded.stream(INPUT)
    next(stream)
    stream.close()
    assert "".join(guarded.stream(INPUT)) == verdict_text()  # and the span still nests
    assert "detach" not in caplog.text and "different Context" not in caplog.text
    judges = [s for s in spans.exporter.get_finished_spans() if s.name.startswith("judge ")]
    assert len(judges) == 3 and all(s.end_time for s in judges)


def test_runnable_and_handler_take_a_gate_applied_to_the_cached_answer(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: B_WINS
    cache = jg.DiskCache(tmp_path / "c")
    plain = JudgeGuardRunnable(
        RunnableLambda(lambda x: verdict_text()), metajudge=mj_for(loopback_llm), cache=cache
    )
    assert plain.invoke_with_check(INPUT).check(10).needs_review is False
    strict = jg.Gate(review_threshold=0.95)
    guarded = JudgeGuardRunnable(
        RunnableLambda(lambda x: verdict_text()),
        metajudge=mj_for(loopback_llm),
        cache=cache,
        gate=strict,
    )
    check = guarded.invoke_with_check(INPUT).check(10)
    assert check.cached is True and check.needs_review is True
    handler = JudgeGuardCallbackHandler(metajudge=mj_for(loopback_llm), cache=cache, gate=strict)
    FakeListChatModel(responses=[verdict_text()]).invoke(
        [HumanMessage(INPUT["question"])], config={"callbacks": [handler]}
    )
    (handled,) = handler.checks(10)
    assert handled.needs_review is True
    assert len(loopback_llm.requests) == 2  # the handler's context (its prompt) differs


# -- the LangChain run id on the Check, check_timeout ---------------------------------------
async def test_the_runnables_checks_carry_its_langchain_run_id(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    runs, results = Runs(), []
    guarded = JudgeGuardRunnable(
        RunnableLambda(lambda _: verdict_text()),
        metajudge=mj_for(loopback_llm),
        cache=False,
        on_result=results.append,
    )
    config = {"callbacks": [runs]}
    sync = guarded.invoke_with_check(INPUT, config).check(10)
    asynchronous = await (await guarded.ainvoke_with_check(INPUT, config)).acheck()
    list(guarded.stream(INPUT, config))
    _ = [c async for c in guarded.astream(INPUT, config)]
    jg.flush(10)
    ids = [str(r.id) for r in runs.named("JudgeGuard")]  # the wrapper's own runs
    assert len(ids) == 4 and len(set(ids)) == 4
    assert sync.run_id == ids[0] and asynchronous.run_id == ids[1]
    assert sorted(c.run_id for c in results) == sorted(ids)  # streams too, each its own run
    assert all(c.status == "consistent" for c in results)


def test_the_handlers_checks_carry_the_model_run_id(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    runs = Runs()
    handler = JudgeGuardCallbackHandler(metajudge=mj_for(loopback_llm), cache=False, sample=1.0)
    model = FakeListChatModel(responses=[verdict_text(), verdict_text(1)])
    for question in ("which is right?", "and now?"):
        model.invoke([HumanMessage(question)], config={"callbacks": [handler, runs]})
    checks = handler.checks(10)
    model_runs = [str(r.id) for r in runs.ended if r.run_type == "llm"]
    assert [c.run_id for c in checks] == model_runs == [str(k) for k in handler.results]


def test_wrappers_take_check_timeout(loopback_llm):
    from loopback import Hang

    loopback_llm.responder = lambda body: Hang(seconds=30)
    guarded = JudgeGuardRunnable(
        RunnableLambda(lambda _: verdict_text()),
        metajudge=mj_for(loopback_llm, timeout=30),
        check_timeout=0.5,
        cache=False,
    )
    handler = JudgeGuardCallbackHandler(
        metajudge=mj_for(loopback_llm, timeout=30), check_timeout=0.5, cache=False
    )
    started = time.perf_counter()
    check = guarded.invoke_with_check(INPUT).check(10)
    FakeListChatModel(responses=[verdict_text()]).invoke("q", config={"callbacks": [handler]})
    (handled,) = handler.checks(10)
    assert time.perf_counter() - started < 6
    for c in (check, handled):
        assert (c.status, c.reason) == ("error", "check_timeout") and c.run_id is not None
