"""Fakes for the LLM layer tests: an offline model stand-in and a local OpenAI-compatible server.

Nothing here leaves 127.0.0.1 or the machine.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer



WRITE_ARGS = json.dumps({"path": "solution.py", "content": "def f():\n    return 1\n"})
TOOLS = [
    {"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "write_file", "parameters": {"type": "object"}}},
]


def chat(text="fix the bug", tools=TOOLS, **extra):
    """A chat-completions request body."""
    body = {"model": "whatever-the-agent-says", "messages": [{"role": "user", "content": text}]}
    if tools is not None:
        body["tools"] = tools
    body.update(extra)
    return body


class FakeModel:
    """Has ``OfflineModel.respond``'s signature: a tool call first, then a two-line answer.

    With ``counter=True`` every answer carries a call number, like a non-deterministic provider.
    """

    def __init__(self, *, latency: float = 0.0, counter: bool = False) -> None:
        self.latency, self.counter = latency, counter
        self.calls: list[tuple] = []
        self._lock = threading.Lock()

    def respond(self, role, messages, tools, seed):
        with self._lock:
            self.calls.append((role, messages, tools, seed))
            n = len(self.calls)
        if self.latency:
            time.sleep(self.latency)
        usage = {"prompt_tokens": 10 * len(messages), "completion_tokens": 5}
        if self.counter:
            return {"message": {"role": "assistant", "content": f"answer {n}"},
                    "finish_reason": "stop", "usage": usage}
        if messages[-1]["role"] == "user" and tools:
            return {"message": {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{n}", "type": "function",
                 "function": {"name": "write_file", "arguments": WRITE_ARGS}}]},
                "finish_reason": "tool_calls", "usage": usage}
        return {"message": {"role": "assistant", "content": f"done by {role}\nseed {seed}"},
                "finish_reason": "stop", "usage": usage}




#: What a provider answers for each scripted fault: (HTTP status, message, OpenAI error type,
#: code), as OpenAI, Anthropic, OpenRouter and vLLM word them.
PROVIDER_ERRORS = {
    "400": (400, "Invalid 'messages[1].role': told to fail with 400", "invalid_request_error",
            None),
    "401": (401, "Incorrect API key provided: sk-loca****. You can find your API key at "
                 "https://platform.openai.com/account/api-keys.", "invalid_request_error",
            "invalid_api_key"),
    "402": (402, "Insufficient credits. This account never purchased credits.", None, 402),
    "403": (403, "Your organization is not allowed to use this model.", "permission_error", None),
    "404": (404, "The model `test-model` does not exist or you do not have access to it.",
            "invalid_request_error", "model_not_found"),
    "quota": (429, "You exceeded your current quota, please check your plan and billing "
                   "details.", "insufficient_quota", "insufficient_quota"),
    "credit": (400, "Your credit balance is too low to access the Anthropic API. Please go to "
                    "Plans & Billing to upgrade or purchase credits.", "invalid_request_error",
               None),
    "minute_quota": (429, "You exceeded your current quota, please check your plan and billing "
                          "details. For more information on this error, head to: "
                          "https://ai.google.dev/gemini-api/docs/rate-limits.", None, 429),
    "429": (429, "Rate limit reached for requests per min: told to fail with 429", "requests",
            "rate_limit_exceeded"),
    "ctx": (400, "This model's maximum context length is 8192 tokens. However, your messages "
                 "resulted in 9120 tokens. Please reduce the length of the messages.",
            "invalid_request_error", "context_length_exceeded"),
    "echo_key": (400, "Invalid 'tools[0].function.description': 'Incorrect API key provided' "
                      "is not allowed here", "invalid_request_error", None),
    "500": (500, "The server had an error while processing your request: told to fail with 500",
            "server_error", None),
    "503": (503, "The engine is currently overloaded, please try again later", "server_error",
            None),
    "529": (529, "Overloaded", "overloaded_error", None),
}


class FakeOpenAI:
    """A local OpenAI-compatible server on 127.0.0.1 that can be told how to misbehave.

    ``script`` holds the behaviours of the next requests, one each: ``ok``, a key of
    :data:`PROVIDER_ERRORS` (``401``, ``404``, ``429``, ``ctx``, ...), ``sleep`` (answers after
    ``sleep_seconds``), ``garbage`` (200 with broken JSON), ``empty`` (200 with no choices),
    ``die`` (reads the request and hangs up without answering, as a server killed mid-call
    does). When it runs out, requests are answered as ``default`` says (``ok``). With ``key`` set, a request whose
    bearer token is not that key gets a 401 whatever the script says, as a real provider does.
    """

    def __init__(self, *, key: str | None = None) -> None:
        self.script: list[str] = []
        self.requests: list[dict] = []
        self.sleep_seconds = 2.0
        self.default = "ok"
        self.key = key
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization")
                with fake._lock:
                    fake.requests.append({"path": self.path, "body": body, "auth": auth})
                    action = fake.script.pop(0) if fake.script else fake.default
                if fake.key is not None and auth != f"Bearer {fake.key}":
                    action = "401"
                if action == "die":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, data = fake.answer(action, body, self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def answer(self, action: str, body: dict, path: str = "/v1/chat/completions"
               ) -> tuple[int, bytes]:
        if action in PROVIDER_ERRORS:
            status, message, kind, code = PROVIDER_ERRORS[action]
            return status, json.dumps({"error": {"message": message, "type": kind,
                                                 "param": None, "code": code}}).encode()
        if action == "garbage":
            return 200, b'{"id": "x", "choices": [ this is not json'
        if action == "sleep":
            time.sleep(self.sleep_seconds)
        if path.endswith("/embeddings"):
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return 200, json.dumps({"object": "list", "model": body["model"], "data": [
                {"object": "embedding", "index": i, "embedding": [1.0, float(len(t))]}
                for i, t in enumerate(texts)], "usage": {"prompt_tokens": 3 * len(texts),
                                                          "total_tokens": 3 * len(texts)}}).encode()
        choices = [] if action == "empty" else [{
            "index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "write_file", "arguments": WRITE_ARGS}}]}}]
        return 200, json.dumps({"id": "chatcmpl-local", "object": "chat.completion",
                                "created": 1, "model": body["model"], "choices": choices,
                                "usage": {"prompt_tokens": 21, "completion_tokens": 8,
                                          "total_tokens": 29}}).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over AF_UNIX: what a stdlib agent does to reach the gateway."""

    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def post(connection: http.client.HTTPConnection, body, path="/v1/chat/completions"):
    """POSTs ``body`` (a dict, or raw bytes) and returns ``(status, decoded JSON)``."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read())
