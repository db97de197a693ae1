"""``judgeguard serve``: gated rewards over HTTP, speaking OpenRLHF's remote reward-model protocol.

``POST /get_reward`` with ``{"query": [...], "prompts": [...], "labels": [...]}`` answers
``{"rewards": [...], "scores": [...], "extra_logs": {"r_rationale": [...], "r_outcome":
[...], "needs_review": [...], "check_failed": [...]}}``. ``query[i]`` is the prompt followed
by the response (OpenRLHF sends the whole decoded sequence); when it starts with
``prompts[i]`` the rest is the response. ``labels`` may be absent, and an empty string means
"no label"; by default a label is the sample's reference answer (OpenRLHF's ``--label_key``
column: the ``{reference}`` of the judge prompt), with ``--labels-as label`` the gold verdict
(R_outcome 1/0 against it). OpenRLHF turns every list into a tensor, so every value is a
number: a failed check's reward is ``--failed-reward`` (default 0.0), its missing R_rationale
and R_outcome 0.0, and ``check_failed`` 1.0 marks it. ``GET /health`` answers
``{"status": "ok", ...}``.

Built on aiohttp's web server (a litellm dependency, so nothing more to install). Batches run
concurrently up to ``max_batches``; more wait (backpressure) up to ``max_waiting``, beyond
which the answer is 503. A malformed request gets a 4xx with ``{"error": "..."}``; the body
size is capped (``client_max_size``, 413). SIGINT/SIGTERM stop accepting and let in-flight
batches finish (up to ``shutdown_timeout``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from aiohttp import web

    from judgeguard.rewards import RewardFunction
    from judgeguard.schema import Check

__all__ = ["BadRequest", "build_app", "parse_request", "serve"]

log = logging.getLogger("judgeguard")


class BadRequest(ValueError):
    """A request body that is not a valid reward request (answered with a 4xx)."""


def parse_request(
    body: Any, *, max_batch: int, labels_as: Literal["reference", "label"] = "reference"
) -> tuple[list[str], list[str], dict[str, list[Any]]]:
    """(prompts, responses, columns) of a ``/get_reward`` body; raises :class:`BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with a 'query' list")
    query = body.get("query")
    if query is None:
        raise BadRequest("missing key 'query' (a list of prompt + response strings)")
    queries = _strings(query, "query")
    n = len(queries)
    if n > max_batch:
        raise BadRequest(f"'query' has {n} items; this server takes at most {max_batch}")
    prompts = body.get("prompts")
    prompt_list = _strings(prompts, "prompts", n) if prompts is not None else [""] * n
    labels = body.get("labels")
    label_list: list[str | None] = [None] * n
    if labels is not None:
        label_list = [v or None for v in _strings(labels, "labels", n, allow_none=True)]
    responses = [
        q[len(p) :] if p and q.startswith(p) else q
        for q, p in zip(queries, prompt_list, strict=True)
    ]
    columns: dict[str, list[Any]] = {}
    if any(v is not None for v in label_list):
        columns[labels_as] = label_list
    return prompt_list, responses, columns


def _strings(value: Any, name: str, n: int | None = None, *, allow_none: bool = False) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest(f"'{name}' must be a list of strings, got {type(value).__name__}")
    if n is not None and len(value) != n:
        raise BadRequest(f"'{name}' has {len(value)} items but 'query' has {n}")
    for i, v in enumerate(value):
        if not (isinstance(v, str) or (allow_none and v is None)):
            raise BadRequest(f"'{name}[{i}]' must be a string, got {type(v).__name__}")
    return value


def _number(value: float | None) -> float:
    return 0.0 if value is None or math.isnan(value) else float(value)


def response_body(checks: Sequence[Check], reward: RewardFunction, failed: float) -> dict[str, Any]:
    """The ``/get_reward`` answer for a batch's checks (every value a number)."""
    rewards = [reward.reward_of(c) for c in checks]
    values = [failed if r is None else float(r) for r in rewards]
    return {
        "rewards": values,
        "scores": values,
        "extra_logs": {
            "r_rationale": [_number(c.r_rationale) for c in checks],
            "r_outcome": [_number(c.r_outcome) for c in checks],
            "needs_review": [float(c.needs_review) for c in checks],
            "check_failed": [float(r is None) for r in rewards],
        },
    }


def build_app(
    reward: RewardFunction,
    *,
    max_batches: int = 4,
    max_waiting: int = 64,
    max_batch: int = 8192,
    max_body_bytes: int = 32 * 1024 * 1024,
    labels_as: Literal["reference", "label"] = "reference",
    failed_reward: float = 0.0,
) -> web.Application:
    """The aiohttp application serving ``reward`` (see the module docstring)."""
    from aiohttp import web

    from judgeguard.rewards import RewardConfigError

    state = {"in_flight": 0, "waiting": 0, "served": 0}
    slots: asyncio.Semaphore | None = None

    @web.middleware
    async def json_errors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:  # 404, 405, 413 …: the same JSON shape as ours
            if exc.content_type == "application/json":
                raise
            return web.json_response({"error": exc.reason}, status=exc.status)

    async def get_reward(request: web.Request) -> web.Response:
        nonlocal slots
        try:
            raw = await request.read()  # 413 past client_max_size
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return web.json_response({"error": f"the body is not valid JSON: {exc}"}, status=400)
        try:
            prompts, responses, columns = parse_request(
                body, max_batch=max_batch, labels_as=labels_as
            )
        except BadRequest as exc:
            status = 413 if "at most" in str(exc) else 400
            return web.json_response({"error": str(exc)}, status=status)
        if slots is None:
            slots = asyncio.Semaphore(max_batches)
        if slots.locked() and state["waiting"] >= max_waiting:
            return web.json_response(
                {"error": f"busy: {state['waiting']} batches are waiting; retry later"},
                status=503,
                headers={"Retry-After": "1"},
            )
        state["waiting"] += 1
        try:
            await slots.acquire()
        finally:
            state["waiting"] -= 1
        state["in_flight"] += 1
        try:
            checks = await reward.acheck(prompts, responses, **columns)
        except RewardConfigError as exc:  # e.g. the judge prompt needs labels it did not get
            return web.json_response({"error": str(exc)}, status=400)
        finally:
            state["in_flight"] -= 1
            slots.release()
        state["served"] += 1
        return web.json_response(response_body(checks, reward, failed_reward))

    async def health(request: web.Request) -> web.Response:
        judge = reward.judge
        return web.json_response(
            {
                "status": "ok",
                "judge": getattr(judge, "model", None) or getattr(judge, "__name__", "judge"),
                "metajudge": reward.metajudge.model if reward.metajudge is not None else None,
                "in_flight": state["in_flight"],
                "waiting": state["waiting"],
                "batches_served": state["served"],
                "last_batch": reward.metrics(""),
            }
        )

    app = web.Application(client_max_size=max_body_bytes, middlewares=[json_errors])
    app.router.add_post("/get_reward", get_reward)
    app.router.add_get("/health", health)
    return app


def serve(
    reward: RewardFunction,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    shutdown_timeout: float = 60.0,
    **options: Any,
) -> None:
    """Serve ``reward`` until SIGINT/SIGTERM; in-flight batches finish first."""
    from aiohttp import web

    app = build_app(reward, **options)
    log.warning("judgeguard serve: listening on http://%s:%d", host, port)
    web.run_app(
        app,
        host=host,
        port=port,
        shutdown_timeout=shutdown_timeout,
        print=None,
        access_log=None,
        handle_signals=True,
    )
