"""A local fake rerank server for tests and the offline cookbook: Cohere's ``POST
/v2/rerank`` by default, or (``api=``) TEI's ``/rerank``, Jina's or Voyage's ``/v1/rerank``.

It speaks the documented JSON over real HTTP/1.1 (keep-alive) on 127.0.0.1 and a free
port, so the official ``cohere`` client (or any HTTP client) can be pointed at it::

    cohere request : {"model", "query", "documents": [str], "top_n"?, "max_tokens_per_doc"?}
           response: {"id", "results": [{"index", "relevance_score"}] (best first, top_n),
                      "meta": {"api_version": {"version": "2"}, "billed_units": {...}}}
           errors  : {"message": "..."} with the HTTP status (400, 401, 429, 500, 503...)
    tei    request : {"query", "texts": [str], "truncate", "truncation_direction", ...}
           response: [{"index", "score"}] (best first, every text), x-compute-tokens header
           errors  : {"error": "...", "error_type": "..."}
    jina   request : {"model"?, "query", "documents", "top_n", "return_documents"}
           response: {"model", "results": [{"index", "relevance_score"}], "usage"}
    voyage request : {"model"?, "query", "documents", "top_k"?, "truncation"?}
           response: {"object": "list", "data": [{"index", "relevance_score"}], "usage"}
           errors  : (jina, voyage) {"detail": "..."}

Faults are queued with `FakeRerankServer.plan` (one per request, in arrival order) or set
for every request with ``always``. This module does not import ragrerank.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["APIS", "FAULTS", "Api", "Fault", "FakeCohere", "FakeRerankServer", "RecordedRequest"]
__all__ += ["relevance"]

FAULTS = (
    "ok",
    "partial",  # fewer results than top_n
    "rate_limit",  # 429 (Retry-After if given)
    "server_error",  # 500
    "unavailable",  # 503 (Retry-After if given)
    "hang",  # answer only after `delay` seconds
    "drop",  # close the connection without a response
    "bad_json",  # 200 with a truncated JSON body
    "wrong_shape",  # 200 with JSON whose results are not objects
    "missing_index",  # one result has no "index"
    "duplicate_index",  # two results share an index
    "out_of_range",  # an index == len(documents)
    "non_numeric",  # a relevance_score is a string
    "non_finite",  # a relevance_score is Infinity (Python's json writes it)
    "unauthorized",  # 401
    "bad_request",  # 400
)


@dataclass(frozen=True)
class Fault:
    """One scripted server behaviour (see `FAULTS`)."""

    kind: str
    retry_after: str | None = None
    delay: float = 5.0
    echo_auth: bool = False  # put the caller's Authorization header into an error body

    def __post_init__(self) -> None:
        if self.kind not in FAULTS:
            raise ValueError(f"unknown fault {self.kind!r}; choose from {FAULTS}")


@dataclass(frozen=True)
class Api:
    """Where one protocol differs: its path, field names and error body."""

    path: str
    documents: str  # the request's list of texts
    top: str | None  # the request's "how many back" field (None: every text is answered)
    results: str | None  # the answer's list (None: the answer is the list)
    score: str
    error: str  # the error body's message field
    model_required: bool


APIS = {
    "cohere": Api(
        "/v2/rerank", "documents", "top_n", "results", "relevance_score", "message", True
    ),
    "tei": Api("/rerank", "texts", None, None, "score", "error", False),
    "jina": Api("/v1/rerank", "documents", "top_n", "results", "relevance_score", "detail", False),
    "voyage": Api("/v1/rerank", "documents", "top_k", "data", "relevance_score", "detail", False),
}


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received on one request and what it did."""

    client_port: int
    path: str
    body: Any
    authorized: bool
    authorization: str | None  # the Authorization header as received
    fault: str
    status: int | None  # None: no response was sent (dropped)


def relevance(query: str, document: str) -> float:
    """The fake model: share of query words in the document, in [0, 1), ties broken by length."""
    words = set(query.lower().split())
    doc = document.lower().split()
    hits = sum(w in words for w in set(doc))
    return round((hits + 1.0 / (2.0 + len(doc))) / (len(words) + 1.0), 6)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeRerankServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive connections
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr logging
        pass

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        auth = self.headers.get("Authorization") or ""
        authorized = fake.api_key is None or auth == f"Bearer {fake.api_key}"
        fault = fake._next_fault()
        with fake._lock:
            fake.received += 1
        body: Any = None
        with contextlib.suppress(ValueError):
            body = json.loads(raw or b"null")
        with fake._lock:
            fake._in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
        try:
            reply = self._reply(fake, body, authorized, auth, fault)
        finally:
            with fake._lock:
                fake._in_flight -= 1
        # Recorded before the answer leaves, so a caller that got it sees the record.
        with fake._lock:
            fake.requests.append(
                RecordedRequest(
                    client_port=self.client_address[1],
                    path=self.path,
                    body=body,
                    authorized=authorized,
                    authorization=self.headers.get("Authorization"),
                    fault=fault.kind,
                    status=None if reply is None else reply[0],
                )
            )
        if reply is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(*reply)

    def _reply(
        self, fake: FakeRerankServer, body: Any, authorized: bool, auth: str, fault: Fault
    ) -> tuple[int, bytes, dict[str, str]] | None:
        """The (status, body, headers) to send, or None to drop the connection."""
        api = APIS[fake.api]

        def _json(
            status: int, payload: Any, headers: dict[str, str] | None = None
        ) -> tuple[int, bytes, dict[str, str]]:
            if status >= 400:  # the protocol's error body
                payload = {api.error: payload["message"], "error_type": "scripted"}
            return status, json.dumps(payload).encode(), dict(headers or {})

        if fake.latency:
            fake._stopping.wait(fake.latency)
        kind = fault.kind
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if kind == "drop":
            return None
        if kind == "hang" and fake._stopping.wait(fault.delay):
            return None
        if self.path != api.path:
            return _json(404, {"message": f"no route for {self.path}"})
        if kind == "unauthorized" or not authorized:
            msg = "invalid api token"
            if fault.echo_auth:
                msg += f" (got Authorization: {auth})"
            return _json(401, {"message": msg})
        if kind == "rate_limit":
            msg = "You are using a Trial key, which is limited to 10 API calls / minute."
            return _json(429, {"message": msg}, headers)
        if kind == "server_error":
            return _json(500, {"message": "internal server error"}, headers)
        if kind == "unavailable":
            return _json(503, {"message": "service unavailable"}, headers)
        if kind == "bad_request":
            return _json(400, {"message": "invalid request: scripted bad request"})
        problem = _validate(body, fake.max_documents, api)
        if problem:
            return _json(400, {"message": f"invalid request: {problem}"})
        too_long = _over_limit(body, fake.max_words, fake.api)
        if too_long:
            return _json(413, {"message": too_long})
        if kind == "bad_json":
            return 200, b'{"id": "x", "results": [{"index": 0, "relev', {}
        if kind == "wrong_shape":
            junk = [0.9, 0.1]
            return _json(200, junk if api.results is None else {"id": "x", api.results: junk})
        payload, headers = _answer(body, kind, fake.api, fake.max_words)
        return _json(200, payload, headers)

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout) and closed the socket
            self.close_connection = True


def _validate(body: Any, max_documents: int, api: Api) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    model = body.get("model")
    if (api.model_required or model is not None) and (not isinstance(model, str) or not model):
        return "model is required"
    if not isinstance(body.get("query"), str) or not body["query"].strip():
        return "query must be a non-empty string"
    docs = body.get(api.documents)
    if not isinstance(docs, list) or not docs or not all(isinstance(d, str) for d in docs):
        return f"{api.documents} must be a non-empty list of strings"
    if len(docs) > max_documents:
        return f"too many documents: {len(docs)} > {max_documents}"
    top = body.get(api.top) if api.top else None
    if top is not None and (not isinstance(top, int) or top < 1):
        return f"{api.top} must be a positive integer"
    return None


def _truncates(body: dict[str, Any], api: str) -> bool:
    """Whether the request lets the server cut over-long inputs (each API's default)."""
    if api == "tei":
        return bool(body.get("truncate"))
    return body.get("truncation", True) is not False


def _over_limit(body: dict[str, Any], max_words: int | None, api: str) -> str | None:
    """TEI's 413 for a text over the limit when the request does not allow truncation."""
    if max_words is None or _truncates(body, api):
        return None
    docs: list[str] = body[APIS[api].documents]
    long = [i for i, d in enumerate(docs) if len(d.split()) > max_words]
    return (
        f"`inputs` must have less than {max_words} tokens. Given: text {long[0]}" if long else None
    )


def _answer(
    body: dict[str, Any], kind: str, api: str, max_words: int | None
) -> tuple[Any, dict[str, str]]:
    spec = APIS[api]
    docs: list[str] = body[spec.documents]
    if max_words is not None:  # the server cuts silently, keeping the first max_words words
        docs = [" ".join(d.split()[:max_words]) for d in docs]
    n = len(docs)
    scores = [relevance(body["query"], d) for d in docs]
    order = sorted(range(n), key=lambda i: (-scores[i], i))
    top_n = (body.get(spec.top) if spec.top else None) or n
    key = spec.score
    results: list[dict[str, Any]] = [{"index": i, key: scores[i]} for i in order[:top_n]]
    if kind == "partial":
        results = results[: max(1, len(results) // 2)]
    elif kind == "missing_index":
        del results[-1]["index"]
    elif kind == "duplicate_index" and n > 1:
        results[-1]["index"] = results[0]["index"]
    elif kind == "out_of_range":
        results[-1]["index"] = n
    elif kind == "non_numeric":
        results[0][key] = "high"
    elif kind == "non_finite":
        results[0][key] = math.inf
    tokens = sum(len(body["query"].split()) + len(d.split()) for d in docs)
    usage = {"total_tokens": tokens}
    if api == "tei":
        return results, {"x-compute-tokens": str(tokens)}
    if api == "jina":
        return {"model": body.get("model", "served-model"), "results": results, "usage": usage}, {}
    if api == "voyage":
        return {"object": "list", "data": results, "model": body.get("model"), "usage": usage}, {}
    meta = {
        "api_version": {"version": "2", "is_experimental": False},
        "billed_units": {"search_units": math.ceil(n / 100)},
    }
    return {"id": str(uuid.uuid4()), "results": results, "meta": meta}, {}


@dataclass
class FakeRerankServer:
    """The fake service; use as a context manager (``with FakeCohere() as server: ...``).

    Args:
        api_key: the only bearer token accepted (others get 401); ``None``: keyless, any
            request is served (a local TEI).
        api: the protocol played (see `APIS`).
        max_documents: documents per request above which the server answers 400.
        max_words: the model's input limit in words: longer texts are cut before scoring
            when the request allows it (TEI ``truncate``, Voyage ``truncation``), else 413.
        latency: seconds every request waits before answering.
        always: the fault applied when the `plan` queue is empty (default: answer normally).
    """

    api_key: str | None = "test-key"
    api: str = "cohere"
    max_documents: int = 1000
    max_words: int | None = None
    latency: float = 0.0
    always: Fault | str = "ok"
    requests: list[RecordedRequest] = field(default_factory=list)
    received: int = 0  # requests that arrived, including ones still being answered
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise ValueError(f"unknown api {self.api!r}; choose from {sorted(APIS)}")
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self._in_flight = 0
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeRerankServer:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeRerankServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- scripting ----------------------------------------------------------------------------

    def plan(self, *faults: Fault | str) -> None:
        """Queue faults, one per upcoming request in arrival order."""
        with self._lock:
            self._queue.extend(_as_fault(f) for f in faults)

    def reset(self, always: Fault | str = "ok") -> None:
        """Forget recorded requests and queued faults; set the default behaviour."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.received = 0
            self.max_in_flight = 0
            self.always = always

    def _next_fault(self) -> Fault:
        with self._lock:
            return self._queue.pop(0) if self._queue else _as_fault(self.always)

    @property
    def rerank_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == APIS[self.api].path]


def _as_fault(fault: Fault | str) -> Fault:
    return fault if isinstance(fault, Fault) else Fault(fault)


FakeCohere = FakeRerankServer
"""The Cohere fake (``api="cohere"``, the default)."""
