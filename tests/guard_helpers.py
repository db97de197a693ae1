"""Shared by the guard, offload and telemetry tests: a judge output, a MetaJudge answer,
a MetaJudge on the loopback server, and metric points from an in-memory reader."""

import json

import judgeguard as jg

#: A realistic Arena-Hard judge output (rationale, then the verdict B>>A).
ARENA = (
    "Assistant A's loop `while lo < hi` never inspects the last element, so find([1, 2, 3], 3) "
    "returns -1. Assistant B's loop is correct and handles the empty list.\n\n"
    "My final verdict is: [[B>>A]]"
)


def support(probs, explanation="B's loop is correct.", claims=()):
    """A MetaJudge support answer: ``probs`` over the verdict options."""
    return json.dumps(
        {"probabilities": probs, "explanation": explanation, "unsupported_claims": list(claims)}
    )


#: A MetaJudge answer that supports B>>A.
B_WINS = support({"A>>B": 0.0, "A>B": 0.05, "A=B": 0.05, "B>A": 0.3, "B>>A": 0.6})


def verdict_text(i=0, verdict="B>>A"):
    """An Arena-Hard style judge output with a rationale and a final verdict."""
    return (
        f"Case {i}: Assistant A's loop skips the last element; Assistant B's loop is "
        f"correct and handles the empty list.\n\nMy final verdict is: [[{verdict}]]"
    )


def mj_for(server, **kw):
    """A MetaJudge on the loopback server: no retries, 5 s timeout unless given."""
    kw.setdefault("retries", 0)
    kw.setdefault("timeout", 5)
    return jg.MetaJudge("openai/judge-test", api_base=server.base_url, api_key="k", **kw)


def metric_points(reader, name):
    """The data points of metric ``name`` collected by an in-memory metric reader."""
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.data.data_points
    ]
