"""A real loopback HTTP server speaking the OpenAI chat-completions protocol, for tests.

Stdlib only (the ``loopback_llm`` fixture is in conftest.py).  The server binds to
``127.0.0.1`` on an ephemeral port and runs ``ThreadingHTTPServer`` in a daemon
thread, so it serves concurrent requests (one thread per connection, HTTP/1.1
keep-alive).

    with LoopbackLLM() as server:
        server.script("first reply", Reply(status=429), Hang())
        litellm.completion(model="openai/judge-test", api_base=server.base_url,
                           api_key="sk-test", messages=[...])
        server.requests[-1]["messages"]   # what the client actually sent

Replies (scripted with :meth:`LoopbackLLM.script`, or returned by ``responder``):

* ``str``   - the assistant message content.
* :class:`Reply` - full control: status (429/5xx/4xx produce an OpenAI-shaped
  error body; 429 also sends ``Retry-After``), per-request delay,
  ``reasoning_content``, ``tool_calls``, ``usage=(prompt, completion)``,
  ``finish_reason``, or ``raw_body`` (exact bytes, e.g. malformed JSON or b"").
* :class:`Hang` - never answers (until ``seconds`` pass or the server stops).

Streaming (``"stream": true``) requests get ``text/event-stream`` chunks ending
with ``data: [DONE]``; ``stream_options.include_usage`` adds the usage chunk.
``GET /v1/models`` and ``GET /v1/models/{id}`` are served too.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, TypeAlias

__all__ = [
    "DEFAULT_CONTENT",
    "Hang",
    "LoopbackLLM",
    "Reply",
    "ReplyLike",
    "Responder",
    "loopback_process",
]

#: What the default responder answers: a fixed, valid JSON verdict string.
DEFAULT_CONTENT = '{"verdict": "pass", "score": 1.0, "rationale": "loopback default reply"}'


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP reply.

    ``status != 200`` sends an OpenAI error body ``{"error": {"message", "type",
    "param", "code"}}`` whose message is ``content`` (or a default).  ``raw_body``
    overrides everything and sends exactly those bytes with ``status``.
    ``usage=None`` means "estimate from the text lengths" (deterministic).
    """

    content: str | None = ""
    status: int = 200
    delay: float = 0.0
    reasoning_content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    usage: tuple[int, int] | None = None
    raw_body: bytes | None = None
    finish_reason: str | None = None  # None -> "tool_calls" if tool_calls else "stop"
    retry_after: float | None = 1.0  # Retry-After header value for 429 (None: omit)
    headers: dict[str, str] | None = None  # extra response headers
    content_type: str | None = None  # override Content-Type (mainly with raw_body)

    _loopback_kind: ClassVar[str] = "reply"


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer (for timeout tests).

    Waits on the server's stop event, so ``stop()`` still returns promptly.
    ``after_headers=True`` sends a 200 status line + headers (and, for streams,
    the first chunk) before stalling, to exercise read timeouts mid-response.
    """

    seconds: float = 3600.0
    after_headers: bool = False

    _loopback_kind: ClassVar[str] = "hang"


ReplyLike: TypeAlias = "str | Reply | Hang"
Responder: TypeAlias = "Callable[[dict[str, Any]], str | Reply | Hang]"


def _default_responder(_body: dict[str, Any]) -> ReplyLike:
    return DEFAULT_CONTENT


_ERROR_SHAPES: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request (loopback)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (loopback)."),
    403: ("permission_denied", None, "Permission denied (loopback)."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist (loopback)."),
    408: ("timeout", None, "Request timed out (loopback)."),
    413: ("invalid_request_error", "request_too_large", "Request too large (loopback)."),
    422: ("invalid_request_error", None, "Unprocessable entity (loopback)."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached (loopback)."),
    500: ("server_error", "internal_error", "The server had an error (loopback)."),
    502: ("server_error", "bad_gateway", "Bad gateway (loopback)."),
    503: ("server_error", "service_unavailable", "The engine is currently overloaded (loopback)."),
    504: ("server_error", "gateway_timeout", "Gateway timeout (loopback)."),
}


def _estimate_tokens(text: str) -> int:
    return len(text) // 4 + 1


def _prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return "\n".join(parts)


def _normalise_tool_calls(tool_calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, call in enumerate(tool_calls):
        function = dict(call.get("function") or {})
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        out.append(
            {
                "id": call.get("id") or f"call_loopback_{i}",
                "type": call.get("type", "function"),
                "function": {"name": function.get("name", ""), "arguments": arguments},
            }
        )
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() closes live connections itself; never join keep-alive threads
    request_queue_size = 1024  # default backlog of 5 drops SYNs under bursty concurrency
    allow_reuse_address = True

    def __init__(self, owner: LoopbackLLM) -> None:
        self.owner = owner
        self.stop_event = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Broken pipes / resets are expected when clients time out or the server stops.
        if self.stop_event.is_set():
            return
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LoopbackLLM/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are dropped after this many seconds
    server: _Server

    # -- plumbing ---------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep test output quiet and the hot path cheap

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {self.responses.get(status, ('Unknown',))[0]}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "x-request-id: req_loopback",
        ]
        if extra:
            lines.extend(f"{k}: {v}" for k, v in extra.items())
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)  # one write: no Nagle/delayed-ACK stalls

    def _send_json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), extra=extra)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- routes -----------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        owner = self.server.owner
        if path in ("/v1/models", "/models"):
            self._send_json(
                200,
                {"object": "list", "data": [owner.model_card(m) for m in owner.model_ids]},
            )
        elif path.startswith(("/v1/models/", "/models/")):
            self._send_json(200, owner.model_card(path.split("/models/", 1)[1]))
        else:
            self._send_error_reply(404, f"Unknown path {self.path} (loopback).")

    def do_POST(self) -> None:
        raw = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error_reply(404, f"Unknown path {self.path} (loopback).")
            return
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("request body is not a JSON object")
        except ValueError:
            self.server.owner._record({"_invalid_json": raw.decode("utf-8", "replace")}, self)
            self._send_error_reply(400, "We could not parse the JSON body of your request.")
            return
        owner = self.server.owner
        owner._record(body, self)
        reply = owner._next_reply(body)
        if owner.latency > 0 and self.server.stop_event.wait(owner.latency):
            return
        self._dispatch(body, reply)

    # -- replies ----------------------------------------------------------------
    def _dispatch(self, body: dict[str, Any], reply: Any) -> None:
        kind = getattr(reply, "_loopback_kind", None)
        if isinstance(reply, str):
            reply = Reply(content=reply)
        elif kind == "hang":
            self._hang(body, reply)
            return
        elif kind != "reply":
            raise TypeError(f"responder returned {type(reply).__name__}, not str|Reply|Hang")
        if reply.delay > 0 and self.server.stop_event.wait(reply.delay):
            return
        extra = dict(reply.headers or {})
        if reply.raw_body is not None:
            self._send(
                reply.status,
                reply.raw_body,
                content_type=reply.content_type or "application/json",
                extra=extra,
            )
            return
        if reply.status != 200:
            if reply.status == 429 and reply.retry_after is not None:
                extra.setdefault("Retry-After", f"{reply.retry_after:g}")
            self._send_error_reply(reply.status, reply.content or None, extra)
            return
        if body.get("stream"):
            self._send(
                200,
                self.server.owner._stream_body(body, reply),
                content_type=reply.content_type or "text/event-stream; charset=utf-8",
                extra=extra,
            )
        else:
            self._send_json(200, self.server.owner._completion(body, reply), extra)

    def _send_error_reply(
        self, status: int, message: str | None = None, extra: dict[str, str] | None = None
    ) -> None:
        default_type = "server_error" if status >= 500 else "invalid_request_error"
        err_type, code, default_message = _ERROR_SHAPES.get(
            status, (default_type, None, f"HTTP {status} (loopback).")
        )
        payload = {
            "error": {
                "message": message or default_message,
                "type": err_type,
                "param": None,
                "code": code,
            }
        }
        self._send_json(status, payload, extra)

    def _hang(self, body: dict[str, Any], hang: Hang) -> None:
        if hang.after_headers:
            stream = bool(body.get("stream"))
            ctype = "text/event-stream; charset=utf-8" if stream else "application/json"
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
                + ("Transfer-Encoding: chunked\r\n" if stream else "Content-Length: 100000\r\n")
                + "\r\n"
            ).encode("latin-1")
            if stream:
                first = self.server.owner._chunk(body, {"role": "assistant", "content": ""})
                data = f"data: {json.dumps(first)}\n\n".encode()
                head += f"{len(data):x}\r\n".encode() + data + b"\r\n"
            self.wfile.write(head)
        self.server.stop_event.wait(hang.seconds)
        self.close_connection = True


class LoopbackLLM:
    """Loopback OpenAI-compatible chat-completions server (see module docstring)."""

    def __init__(self, responder: Responder | None = None, latency: float = 0.0) -> None:
        self.responder: Responder = responder or _default_responder
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self.model_ids: list[str] = ["judge-test"]
        self._lock = threading.Lock()
        self._queue: deque[ReplyLike] = deque()
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> LoopbackLLM:
        if self._server is not None:
            return self
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loopback-llm-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.stop_event.set()  # wakes Hang / latency / delay waits
        server.shutdown()  # returns within poll_interval
        with server.connections_lock:
            conns = list(server.connections)
        for conn in conns:  # unblock keep-alive readers so handler threads exit
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> LoopbackLLM:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LoopbackLLM is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting --------------------------------------------------------------
    def script(self, *replies: ReplyLike) -> None:
        """Queue replies consumed in order; when empty, ``responder`` answers."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not consumed yet."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget recorded requests and pending scripted replies."""
        with self._lock:
            self.requests.clear()
            self.request_headers.clear()
            self._queue.clear()

    @property
    def last_request(self) -> dict[str, Any]:
        with self._lock:
            if not self.requests:
                raise LookupError("no request received yet")
            return self.requests[-1]

    # -- internals (called from handler threads) -------------------------------
    def _record(self, body: dict[str, Any], handler: BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(headers)

    def _next_reply(self, body: dict[str, Any]) -> ReplyLike:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.responder(body)

    def model_card(self, model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": 0, "owned_by": "loopback"}

    def _usage(self, body: dict[str, Any], reply: Reply) -> dict[str, int]:
        if reply.usage is not None:
            prompt, completion = reply.usage
        else:
            prompt = _estimate_tokens(_prompt_text(body))
            completion = _estimate_tokens(reply.content or "")
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.reasoning_content is not None:
            message["reasoning_content"] = reply.reasoning_content
        if reply.tool_calls:
            message["tool_calls"] = _normalise_tool_calls(reply.tool_calls)
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        n = body.get("n") if isinstance(body.get("n"), int) and body.get("n", 0) > 0 else 1
        return {
            "id": f"chatcmpl-loopback-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or "loopback",
            "system_fingerprint": "fp_loopback",
            "choices": [
                {"index": i, "message": message, "logprobs": None, "finish_reason": finish}
                for i in range(n)
            ],
            "usage": self._usage(body, reply),
        }

    def _chunk(
        self,
        body: dict[str, Any],
        delta: dict[str, Any] | None,
        finish_reason: str | None = None,
        chunk_id: str = "chatcmpl-loopback-stream",
        usage: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model") or "loopback",
            "system_fingerprint": "fp_loopback",
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if usage is not None:
            chunk["usage"] = usage
        return chunk

    def _stream_body(self, body: dict[str, Any], reply: Reply) -> bytes:
        cid = f"chatcmpl-loopback-{next(self._ids)}"
        chunks: list[dict[str, Any]] = [
            self._chunk(body, {"role": "assistant", "content": ""}, chunk_id=cid)
        ]
        if reply.reasoning_content:
            chunks.append(
                self._chunk(body, {"reasoning_content": reply.reasoning_content}, chunk_id=cid)
            )
        content = reply.content or ""
        for piece in _split(content, 8):
            chunks.append(self._chunk(body, {"content": piece}, chunk_id=cid))
        if reply.tool_calls:
            calls = _normalise_tool_calls(reply.tool_calls)
            for i, call in enumerate(calls):
                chunks.append(
                    self._chunk(body, {"tool_calls": [{"index": i, **call}]}, chunk_id=cid)
                )
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        chunks.append(self._chunk(body, {}, finish, chunk_id=cid))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            chunks.append(self._chunk(body, None, chunk_id=cid, usage=self._usage(body, reply)))
        out = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return out.encode()


def _split(text: str, max_pieces: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // max_pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _serve_in_child(
    conn: Any, responder: Responder | None, latency: float, cpus: set[int] | None
) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    with LoopbackLLM(responder, latency=latency) as server:
        conn.send(server.port)
        conn.recv()  # serve until the parent says stop


@contextlib.contextmanager
def loopback_process(
    responder: Responder | None = None, latency: float = 0.0, cpus: set[int] | None = None
) -> Iterator[str]:
    """A :class:`LoopbackLLM` in a spawned child process, as a real provider would be (its
    CPU is not the caller's; on ``cpus`` when given); yields its base URL. ``responder``
    must pickle (a module-level function), for benchmarks."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve_in_child, args=(child, responder, latency, cpus), daemon=True)
    proc.start()
    try:
        yield f"http://127.0.0.1:{parent.recv()}"
    finally:
        parent.send("stop")
        proc.join(10)
