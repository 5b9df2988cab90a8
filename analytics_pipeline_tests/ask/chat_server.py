"""An OpenAI-compatible chat-completions server on 127.0.0.1 for tests and benchmarks: answers
``POST /v1/chat/completions`` from a script (or a function of the request), and keeps every request it got."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """One answer: the assistant's text, or an HTTP error (``status`` with ``error`` as its message); ``delay``
    seconds before answering (a slow endpoint)."""

    content: str | None = ""
    status: int = 200
    error: str = ""
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    body: dict
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict]:
        return self.body.get("messages", [])


class ChatServer:
    def __init__(self, respond: Callable[[Request], Reply | str]):
        self.respond = respond
        self.requests: list[Request] = []
        self._stopping = threading.Event()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True

    @property
    def url(self) -> str:
        """The base URL, as ANALYTICS_LLM_BASE_URL takes it."""
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                request = Request(body, {k.lower(): v for k, v in self.headers.items()})
                server.requests.append(request)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                reply = server.respond(request)
                reply = Reply(reply) if isinstance(reply, str) else reply
                if reply.delay and server._stopping.wait(reply.delay):
                    return
                if reply.status != 200:
                    return self._send(reply.status, {"error": {"message": reply.error, "type": "api_error"}})
                self._send(200, {
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", ""),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.content}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })

            def _send(self, status: int, document: dict) -> None:
                data = json.dumps(document).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
                    pass

        return Handler


def scripted(*replies: Reply | str) -> Callable[[Request], Reply | str]:
    """Answer the requests with ``replies`` in turn; a request past the script is a 500."""
    queue = list(replies)

    def respond(request: Request) -> Reply | str:
        return queue.pop(0) if queue else Reply(status=500, error="the test's script has no more answers")

    return respond


def sql_reply(sql: str) -> str:
    """An answer as models give it: a sentence and the query in a fenced block."""
    return f"Here is the query:\n\n```sql\n{sql}\n```"


@contextmanager
def chat_server(respond: Callable[[Request], Reply | str]) -> Iterator[ChatServer]:
    """A ``ChatServer`` serving on a free port of 127.0.0.1 until the block ends."""
    server = ChatServer(respond)
    thread = threading.Thread(target=server._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server._stopping.set()
        server._http.shutdown()
        server._http.server_close()
        thread.join(timeout=5)
