"""A local fake of the Hugging Face hub's file endpoint, so an online download runs offline.

It answers ``HEAD``/``GET /{org}/{name}/resolve/{revision}/{file}`` from local folders over
real HTTP on 127.0.0.1 (with the ``X-Repo-Commit`` and ``ETag`` headers huggingface_hub
needs), an empty listing for ``/api/models/{org}/{name}/tree/...`` and 404 for anything else; point ``HF_ENDPOINT`` at `FakeHub.endpoint` in a fresh
interpreter (huggingface_hub reads it at import). `closed_endpoint` is one nobody serves.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["FakeHub", "closed_endpoint", "serve_hub"]


class FakeHub:
    """Repos served (name -> folder) and the paths requested so far."""

    def __init__(self, repos: Mapping[str, str | Path], endpoint: str) -> None:
        self.repos = {name: Path(folder) for name, folder in repos.items()}
        self.endpoint = endpoint
        self.requests: list[str] = []


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            hub.requests.append(f"{self.command} {self.path}")

        def _serve(self, body: bool) -> None:
            path = self.path.split("?", 1)[0]
            for name, folder in hub.repos.items():
                prefix = f"/{name}/resolve/"
                if path.startswith(prefix):
                    _, _, filename = path[len(prefix) :].partition("/")
                    file = folder / filename
                    if file.is_file():
                        data = file.read_bytes()
                        self.send_response(200)
                        commit = hashlib.sha1(name.encode()).hexdigest()
                        self.send_header("X-Repo-Commit", commit)
                        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        if body:
                            self.wfile.write(data)
                        return
                    return self._missing("EntryNotFound")
                if path.startswith(f"/api/models/{name}/tree/"):
                    return self._json(b"[]", body)  # no extra folders (e.g. chat templates)
            self._missing("EntryNotFound")

        def _json(self, data: bytes, body: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def _missing(self, code: str) -> None:
            self.send_response(404)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

    return Handler


@contextlib.contextmanager
def serve_hub(repos: Mapping[str, str | Path]) -> Iterator[FakeHub]:
    """Serve ``repos`` until the block ends."""
    hub = FakeHub(repos, "")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()


def closed_endpoint() -> str:
    """An http endpoint on 127.0.0.1 whose port nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
