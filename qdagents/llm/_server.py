"""The gateway as an OpenAI-compatible HTTP/1.1 endpoint on a unix socket, one per task.

A sandboxed agent has no network: its only way out is this socket, mounted into the sandbox at
``/run/qdagents/gateway.sock``. Each task gets its own socket (and so its own :class:`Meter`,
agent id and task id), which is how every token is attributed to the task that spent it.

Permissions: the socket lives alone in a fresh ``mkdtemp`` directory. The directory is made
``0o711`` (others may pass through it but not list it) and the socket ``0o666``, because the
agent may run as another uid (``nobody``, 65534, under docker or bubblewrap) and connecting to a
unix socket needs write permission on it. Mount either the socket file or its directory.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler

#: Largest request body accepted, in bytes.
MAX_BODY = 2 * 1024 * 1024
#: HTTP status for each gateway error type.
STATUS = {"invalid_request_error": 400, "budget_exceeded": 429, "replay_miss": 502,
          "provider_error": 502, "malformed_response": 502, "provider_unusable": 502}
#: Oversized bodies up to this size are read and dropped before the 400 answer; larger ones are
#: cut off by closing the connection.
_MAX_DRAIN = 32 * 1024 * 1024
#: Unix socket paths longer than this fail to bind on Linux (108 bytes with the terminator).
_MAX_SOCKET_PATH = 100


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False  # GatewaySocket.close() waits itself, for a bounded time

    def __init__(self, path: str, socket: "GatewaySocket") -> None:
        self.gateway_socket = socket
        self.connections: set = set()
        self.connections_changed = threading.Condition()
        super().__init__(path, _Handler)

    def handle_error(self, request, client_address) -> None:
        pass  # the agent hung up or was killed mid-answer: nothing to tell anyone

    def process_request_thread(self, request, client_address):
        with self.connections_changed:
            self.connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.connections_changed:
                self.connections.discard(request)
                self.connections_changed.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "qdagents-gateway"

    def address_string(self) -> str:  # unix peers have no address
        return "unix"

    def log_message(self, format: str, *args) -> None:
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _reject(self, status: int, message: str, *, close: bool = False) -> None:
        self.server.gateway_socket.meter.add_error()
        self.close_connection = self.close_connection or close
        self._send(status, {"error": {"message": message, "type": "invalid_request_error",
                                      "param": None, "code": None}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            gateway = self.server.gateway_socket.gateway
            self._send(200, {"object": "list", "data": [
                {"id": gateway.model_for("agent"), "object": "model", "owned_by": "qdagents"}]})
        else:
            self._reject(404, f"no such endpoint: GET {self.path}")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            return self._reject(404, f"no such endpoint: POST {self.path}; use "
                                     "/v1/chat/completions", close=True)
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._reject(400, "a Content-Length header is required", close=True)
        if length < 0 or length > MAX_BODY:
            remaining = length if length <= _MAX_DRAIN else 0
            while remaining > 0:  # read it, so that the client gets to read our answer
                remaining -= len(self.rfile.read(min(65536, remaining))) or remaining
            return self._reject(400, f"request body of {length} bytes is over the {MAX_BODY} "
                                     "byte limit", close=True)
        try:
            request = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError) as exc:
            return self._reject(400, f"the request body is not valid JSON: {exc}")
        if not isinstance(request, dict):
            return self._reject(400, "the request body must be a JSON object")
        if request.get("stream"):
            return self._reject(400, "'stream': true is not supported by the qdagents gateway; "
                                     "send the request without it")
        owner = self.server.gateway_socket
        try:
            body = owner.gateway.complete(request, meter=owner.meter, purpose="agent",
                                          agent_id=owner.agent_id, task_id=owner.task_id)
        except Exception as exc:  # a gateway bug must not take the agent's connection down
            message = f"gateway failure: {type(exc).__name__}: {exc}"
            owner.meter.add_error(fault="provider", message=message)   # not the agent's doing
            body = {"error": {"message": message, "type": "gateway_error", "param": None,
                              "code": None, "fault": "provider"}}
        status = STATUS.get(body["error"]["type"], 500) if "error" in body else 200
        self._send(status, body)


class GatewaySocket:
    """A running OpenAI-compatible server on a fresh unix socket; a context manager.

    Attributes:
        path: the socket file.
        dir: the private directory holding it (removed on close).
    """

    def __init__(self, gateway, meter, *, agent_id: str | None = None,
                 task_id: str | None = None, directory=None) -> None:
        self.gateway, self.meter, self.agent_id, self.task_id = gateway, meter, agent_id, task_id
        self._own_dir = directory is None   # a given folder outlives the socket (docker sessions)
        if directory is not None:
            self.dir = str(directory)
        else:
            self.dir = tempfile.mkdtemp(prefix="qdagents-gw-")
            if len(os.path.join(self.dir, "gateway.sock")) > _MAX_SOCKET_PATH:
                os.rmdir(self.dir)
                self.dir = tempfile.mkdtemp(prefix="qdagents-gw-", dir="/tmp")
        self.path = os.path.join(self.dir, "gateway.sock")
        if len(self.path) > _MAX_SOCKET_PATH:
            raise ValueError(f"socket path too long for a unix socket: {self.path}")
        if os.path.lexists(self.path):
            os.unlink(self.path)
        self._server = _Server(self.path, self)
        os.chmod(self.path, 0o666)
        os.chmod(self.dir, 0o711)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                         kwargs={"poll_interval": 0.05},
                                         name=f"gateway-{task_id}", daemon=True)
        self._thread.start()
        self._closed = False

    def close(self, wait: float = 10.0) -> bool:
        """Stops serving, ends idle connections, removes the socket, and waits up to ``wait``
        seconds for calls in flight, so the meter is complete when it returns.

        A call still running after that (a slow provider behind an agent that was killed) is
        left to finish on its own thread: it is still recorded in ``llm_calls`` and charged to
        the budgets, but may reach the meter late. Returns whether every call had finished.
        """
        if self._closed:
            return True
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        deadline = time.monotonic() + wait
        with self._server.connections_changed:
            for connection in self._server.connections:
                try:  # wakes handlers waiting for the next request on a keep-alive connection
                    connection.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
            while self._server.connections and time.monotonic() < deadline:
                self._server.connections_changed.wait(deadline - time.monotonic())
            finished = not self._server.connections
        self._thread.join()
        return finished

    def __enter__(self) -> "GatewaySocket":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GatewaySocket({self.path!r}, task_id={self.task_id!r})"
