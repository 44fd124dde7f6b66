"""The relay: an agent on a Dask worker reaches the controller's gateway, and nothing else.

On a worker the agent still sees what it sees locally, an OpenAI-compatible endpoint on a unix
socket (:class:`qdagents.llm.GatewaySocket`). Behind that socket, :class:`GatewayRelay` stands in
for the gateway: it forwards each request over TCP to the :class:`RelayEndpoint` in the
controller, which answers it with the run's one :class:`qdagents.llm.Gateway` under the meter of
that agent's task. So provider keys, metering, budgets, recording and replay never leave the
controller, and only the controller writes ``run.sqlite``.

The protocol is one TCP connection per call, authenticated per session with HMAC-SHA256
(RFC 2104) over a fresh challenge, so a recorded call cannot be played again:

1. endpoint -> relay: a 32-byte random challenge;
2. relay -> endpoint: ``session id`` + ``mac`` + ``payload``, where payload is the JSON
   ``{"attempt", "seq", "request"}`` and ``mac = HMAC(key, "call" | challenge | payload)``;
3. endpoint -> relay: ``mac`` + ``payload``, payload ``{"body": <response or error body>}``,
   ``mac = HMAC(key, "answer" | challenge | payload)``.

A session is one task of one agent's evaluation. Its key is ``HMAC(run secret, session id)``:
the run secret never leaves the controller, and a worker holds only the keys of the tasks it was
given, which stop working when their results are in. Frames are authenticated, not encrypted:
on a network you do not trust, give the executor TLS certificates (``tls_context``), which wrap
the relay as they wrap Dask's own traffic (see docs/distributed.md).

Faults: a worker process killed mid-task may leave calls it made under an *attempt* id; the
controller keeps a meter per attempt and takes the one whose result came back (the lost
attempt's calls stay recorded and charged to the run). A connection that drops mid-call is an
error body for the agent (type ``relay_error``), and one ``llm_calls`` row records it, whichever
side saw the drop, as a ``provider``-class fault: the task's result is then an infrastructure
failure (the evaluation is not scored and is retried later), never the agent's. Closing the relay
socket aborts calls in flight, so nothing waits for ever.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import socket
import socketserver
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable

from qdagents.llm import PROVIDER, GatewaySocket, Meter, error_body

log = logging.getLogger(__name__)

__all__ = ["GatewayRelay", "RelayEndpoint", "RelayError", "RelaySession", "RelayTicket"]

CHALLENGE_BYTES = 32
MAC_BYTES = 32
#: The largest call frame the endpoint reads (the unix-socket server caps a body at 2 MiB).
MAX_CALL_FRAME = 4 * 1024 * 1024
#: The largest answer frame the relay reads.
MAX_ANSWER_FRAME = 64 * 1024 * 1024
#: Seconds the endpoint waits for a caller to finish sending, so idle peers cannot pile up.
HANDSHAKE_SECONDS = 30.0
#: Seconds a relay waits to connect to the endpoint.
CONNECT_SECONDS = 10.0
#: Seconds a finished task's session waits for the gateway calls still in flight (as long as a
#: task's unix socket waits when it closes), so its meter is complete.
FINISH_WAIT = 10.0
RELAY_ERROR = "relay_error"


def relay_error(message: str) -> dict:
    """The error body an agent gets when the relay fails: not the agent's doing (class
    ``provider``, :mod:`qdagents.llm._faults`), so the task says nothing of the agent."""
    body = error_body(RELAY_ERROR, message)
    body["error"]["fault"] = PROVIDER
    return body


class RelayError(ConnectionError):
    """The relay protocol was broken: bad frame, failed authentication, closed session."""


# -- framing and authentication ----------------------------------------------------------------


def send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(struct.pack(">I", len(data)) + data)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise RelayError("the connection closed mid-frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket, limit: int) -> bytes:
    (size,) = struct.unpack(">I", read_exactly(sock, 4))
    if size > limit:
        raise RelayError(f"a frame of {size} bytes is over the {limit} byte limit")
    return read_exactly(sock, size)


def sign(key: bytes, label: bytes, challenge: bytes, payload: bytes) -> bytes:
    return hmac.new(key, label + b"|" + challenge + b"|" + payload, hashlib.sha256).digest()


def session_key(secret: bytes, session_id: str) -> bytes:
    return hmac.new(secret, b"qdagents relay session " + session_id.encode(),
                    hashlib.sha256).digest()


def keepalive(sock: socket.socket) -> None:
    """TCP keepalive, so a peer that vanished without a word (a cut network) is noticed."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


# -- the worker's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayTicket:
    """What a worker needs to reach the controller for one task: a plain, picklable value.

    Attributes:
        host, port: the controller's relay endpoint.
        session: the session id (one task of one agent's evaluation).
        key: the session's HMAC key (derived from the run secret, which stays home).
        model: the agents' model name, answered on ``GET /v1/models``.
        tls: whether the endpoint speaks TLS (the worker then uses its Dask TLS certificates).
    """

    host: str
    port: int
    session: str
    key: bytes
    model: str
    tls: bool = False


class GatewayRelay:
    """Stands in for the gateway on a worker: each call goes to the controller's endpoint.

    It has the part of :class:`qdagents.llm.Gateway` that an agent's unix socket uses
    (``serve``, ``complete``, ``model_for``), so the evaluator runs a task on a worker exactly as
    it does at home. It meters nothing that counts: the controller's meter is the measure.

    Args:
        ticket: Where and as which session to call.
        attempt: This execution of the task (a fresh id each time Dask runs it).
        timeout: Seconds to wait for one answer (the sandbox's wall-clock limit ends the agent
            earlier; closing the socket then aborts the call).
        tls_context: A client :class:`ssl.SSLContext` when ``ticket.tls``.
    """

    def __init__(self, ticket: RelayTicket, *, attempt: str, timeout: float = 600.0,
                 tls_context: ssl.SSLContext | None = None) -> None:
        if ticket.tls and tls_context is None:
            raise ValueError("the controller's relay speaks TLS but this worker has no TLS "
                             "certificates (configure Dask's TLS on the worker)")
        self.ticket, self.attempt, self.timeout = ticket, attempt, timeout
        self.tls_context = tls_context
        #: Calls that failed in transit: ``{"seq", "request", "error"}``, reported home.
        self.lost: list[dict] = []
        self._seq = 0
        self._open: set[socket.socket] = set()
        self._closed = False
        self._lock = threading.Lock()

    def model_for(self, purpose: str) -> str:
        return self.ticket.model

    def serve(self, meter: Meter, *, agent_id: str | None = None, task_id: str | None = None,
              directory=None) -> GatewaySocket:
        """The agent's unix socket, served through this relay."""
        with self._lock:
            self._closed = False
        return RelaySocket(self, meter, agent_id=agent_id, task_id=task_id, directory=directory)

    def complete(self, request: dict, *, meter: Meter, purpose: str = "agent",
                 agent_id: str | None = None, task_id: str | None = None) -> dict:
        """Forwards one chat-completions body; a broken connection is an error body."""
        with self._lock:
            seq = self._seq
            self._seq += 1
        try:
            return self._call(seq, request)
        except (OSError, RelayError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            with self._lock:
                self.lost.append({"seq": seq, "request": request, "error": reason})
            meter.add_error()   # the controller's meter records it, as a provider-class fault
            return relay_error(f"the connection to the controller's gateway was lost mid-call "
                               f"({reason}); the call may be retried")

    def _call(self, seq: int, request: dict) -> dict:
        payload = {"attempt": self.attempt, "seq": seq, "request": request}
        return exchange(self.ticket, payload, tls_context=self.tls_context,
                        timeout=self.timeout, track=self._track)

    def _track(self, sock: socket.socket | None, add: bool) -> None:
        with self._lock:
            if add and self._closed:
                raise RelayError("the task's gateway socket was closed")
            (self._open.add if add else self._open.discard)(sock)

    def abort(self) -> None:
        """Ends every call in flight (their agents get an error) and refuses new ones."""
        with self._lock:
            self._closed = True
            open_sockets = list(self._open)
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def exchange(ticket: RelayTicket, payload: dict, *, tls_context: ssl.SSLContext | None = None,
             timeout: float = 600.0, track: Callable | None = None) -> dict:
    """One authenticated call to the endpoint; returns the answer's ``body``.

    ``track(sock, add)`` is told of the open connection (so it can be aborted) and of its end.

    Raises:
        OSError, RelayError: the connection failed or the answer failed authentication.
    """
    data = json.dumps(payload).encode()
    sock = socket.create_connection((ticket.host, ticket.port), timeout=CONNECT_SECONDS)
    tracked = False
    try:
        keepalive(sock)
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname=ticket.host)
        if track is not None:
            track(sock, True)
            tracked = True
        sock.settimeout(timeout)
        challenge = read_frame(sock, CHALLENGE_BYTES)
        session = ticket.session.encode()
        send_frame(sock, struct.pack(">H", len(session)) + session
                   + sign(ticket.key, b"call", challenge, data) + data)
        answer = read_frame(sock, MAX_ANSWER_FRAME)
    finally:
        if tracked:
            track(sock, False)
        sock.close()
    mac, answer = answer[:MAC_BYTES], answer[MAC_BYTES:]
    if not hmac.compare_digest(mac, sign(ticket.key, b"answer", challenge, answer)):
        raise RelayError("the answer failed authentication")
    try:
        body = json.loads(answer)["body"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RelayError(f"the answer is not a relay answer: {exc}") from None
    if not isinstance(body, dict):
        raise RelayError("the answer is not a JSON object")
    return body


def ping(ticket: RelayTicket, *, tls_context: ssl.SSLContext | None = None) -> None:
    """An authenticated round trip that calls no model (a worker's preflight).

    Raises:
        OSError, RelayError: the endpoint cannot be reached, or refused the ticket.
    """
    body = exchange(ticket, {"ping": True}, tls_context=tls_context, timeout=CONNECT_SECONDS)
    if body.get("pong") is not True:
        raise RelayError(f"the relay refused the ping: {body.get('error', body)}")


class RelaySocket(GatewaySocket):
    """The agent's unix socket on a worker; closing it also aborts relayed calls in flight
    (the agent has ended, so no one waits for their answers)."""

    def close(self, wait: float = 10.0) -> bool:
        self.gateway.abort()
        return super().close(wait)


# -- the controller's side ---------------------------------------------------------------------


class RelaySession:
    """One task of one agent's evaluation, as the controller serves it.

    Each attempt (execution of the task by Dask) gets its own meter from ``new_meter``; the
    runner takes the meter of the attempt whose result came back with :meth:`finish`.
    """

    def __init__(self, *, id: str, key: bytes, agent_id: str, task_id: str,
                 new_meter: Callable[[], Meter]) -> None:
        self.id, self.key, self.agent_id, self.task_id = id, key, agent_id, task_id
        self.new_meter = new_meter
        self.meters: dict[str, Meter] = {}
        self.answered: dict[str, set[int]] = {}   # attempt -> calls the endpoint answered
        self.reported: set[tuple[str, int]] = set()   # (attempt, seq) recorded as relay errors
        self.closed = False
        self.in_flight = 0
        self.lock = threading.Lock()
        self._idle = threading.Condition(self.lock)

    def meter(self, attempt: str) -> Meter:
        with self.lock:
            if attempt not in self.meters:
                self.meters[attempt] = self.new_meter()
            return self.meters[attempt]

    def begin_call(self) -> bool:
        """Admits a call, unless the session is closed."""
        with self.lock:
            if self.closed:
                return False
            self.in_flight += 1
            return True

    def end_call(self, attempt: str, seq: int) -> None:
        with self.lock:
            self.answered.setdefault(attempt, set()).add(seq)
            self.in_flight -= 1
            self._idle.notify_all()

    def close(self, wait: float = 0.0) -> None:
        """Admits no more calls; waits up to ``wait`` seconds for the gateway to finish those
        in flight (an agent killed mid-call: its call is still metered), as a task's unix
        socket does when it closes."""
        deadline = time.monotonic() + wait
        with self.lock:
            self.closed = True
            while self.in_flight and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())


class RelayEndpoint:
    """The controller's TCP endpoint: answers authenticated calls with the run's gateway.

    Args:
        gateway: The run's :class:`qdagents.llm.Gateway`.
        host: The address to listen on, which workers must be able to reach.
        port: The port (0: any free one; see :attr:`address`).
        tls_context: A server :class:`ssl.SSLContext` (mutual TLS with the Dask certificates).
        secret: The run secret (default: 32 fresh random bytes).
    """

    def __init__(self, gateway, *, host: str = "127.0.0.1", port: int = 0,
                 tls_context: ssl.SSLContext | None = None, secret: bytes | None = None) -> None:
        self.gateway = gateway
        self.tls_context = tls_context
        self.secret = secret or secrets.token_bytes(32)
        self.sessions: dict[str, RelaySession] = {}
        self.rejected = 0   # connections that failed authentication
        self._lock = threading.Lock()
        self._server = _TCPServer((host, port), self)
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, name="relay-endpoint",
                                        daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def open_session(self, *, agent_id: str, task_id: str,
                     new_meter: Callable[[], Meter] = Meter) -> RelaySession:
        """A session for one task; its :meth:`ticket` travels to the worker with the work."""
        session_id = secrets.token_hex(16)
        session = RelaySession(id=session_id, key=session_key(self.secret, session_id),
                               agent_id=agent_id, task_id=task_id, new_meter=new_meter)
        with self._lock:
            self.sessions[session_id] = session
        return session

    def ticket(self, session: RelaySession) -> RelayTicket:
        return RelayTicket(host=self.host, port=self.port, session=session.id, key=session.key,
                           model=self.gateway.model_for("agent"),
                           tls=self.tls_context is not None)

    def finish(self, session: RelaySession, *, attempt: str, lost: list[dict] = ()) -> Meter:
        """Closes the session; returns the meter of ``attempt`` (the one whose result came
        back) and records the calls its relay lost that no row records yet."""
        with self._lock:
            self.sessions.pop(session.id, None)
        session.close(wait=FINISH_WAIT)
        meter = session.meter(attempt)
        for call in lost:
            seq = int(call["seq"])
            with session.lock:
                if (attempt, seq) in session.reported:
                    continue
                session.reported.add((attempt, seq))
                answered = seq in session.answered.get(attempt, ())
            self._record_lost(session, meter, call["request"], str(call["error"]), answered)
        return meter

    def discard(self, session: RelaySession) -> None:
        """Closes a session whose task will never report (cancelled, or its worker failed)."""
        with self._lock:
            self.sessions.pop(session.id, None)
        session.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> "RelayEndpoint":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- serving one call ------------------------------------------------------------------------

    def serve_call(self, sock: socket.socket) -> None:
        sock.settimeout(HANDSHAKE_SECONDS)
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        send_frame(sock, challenge)
        frame = read_frame(sock, MAX_CALL_FRAME)
        (length,) = struct.unpack(">H", frame[:2])
        session_id = frame[2:2 + length].decode("ascii", "replace")
        mac = frame[2 + length:2 + length + MAC_BYTES]
        payload = frame[2 + length + MAC_BYTES:]
        key = session_key(self.secret, session_id)
        if not hmac.compare_digest(mac, sign(key, b"call", challenge, payload)):
            with self._lock:
                self.rejected += 1
            log.warning("relay: refused a call that failed authentication from %s",
                        sock.getpeername())
            return
        sock.settimeout(None)   # the gateway takes as long as the provider does

        def answer(body: dict) -> None:
            data = json.dumps({"body": body}).encode()
            send_frame(sock, sign(key, b"answer", challenge, data) + data)

        with self._lock:
            session = self.sessions.get(session_id)
        try:
            call = json.loads(payload)
            if call.get("ping") is True:
                alive = session is not None and not session.closed
                return answer({"pong": True} if alive else
                              relay_error("this task's session is closed"))
            attempt, seq, request = str(call["attempt"])[:64], int(call["seq"]), call["request"]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return answer(error_body("invalid_request_error", f"not a relay call: {exc}"))
        if session is None or not session.begin_call():
            return answer(relay_error("this task's session is closed (its result was already "
                                      "taken); the call was not made"))
        meter = session.meter(attempt)
        try:
            body = self.gateway.complete(request, meter=meter, purpose="agent",
                                         agent_id=session.agent_id, task_id=session.task_id)
        except Exception as exc:  # a gateway bug must not take the connection down silently
            message = f"gateway failure: {type(exc).__name__}: {exc}"
            meter.add_error(fault=PROVIDER, message=message)   # not the agent's doing
            body = error_body("gateway_error", message)
        finally:
            session.end_call(attempt, seq)
        try:
            answer(body)
        except OSError as exc:   # the worker (or the network) went away: the answer is lost
            with session.lock:
                first = (attempt, seq) not in session.reported
                session.reported.add((attempt, seq))
            if first:
                self._record_lost(session, meter, request, f"{type(exc).__name__}: {exc}", True)

    def _record_lost(self, session: RelaySession, meter: Meter, request, error: str,
                     answered: bool) -> None:
        """One ``llm_calls`` row for a call whose answer never reached its agent."""
        where = ("the gateway answered but the answer never reached the agent"
                 if answered else "the call never reached the gateway")
        self.gateway.record_error(request, fault=PROVIDER, kind=RELAY_ERROR,
                                  message=f"relay connection lost mid-call ({where}): {error}",
                                  meter=meter, purpose="agent", agent_id=session.agent_id,
                                  task_id=session.task_id)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address, endpoint: RelayEndpoint) -> None:
        self.endpoint = endpoint
        super().__init__(address, _CallHandler)

    def handle_error(self, request, client_address) -> None:
        log.debug("relay: a connection from %s ended abnormally", client_address, exc_info=True)


class _CallHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        endpoint, sock = self.server.endpoint, self.request
        try:
            keepalive(sock)
            if endpoint.tls_context is not None:   # the handshake happens here, off the accept loop
                sock.settimeout(HANDSHAKE_SECONDS)
                sock = endpoint.tls_context.wrap_socket(sock, server_side=True)
            endpoint.serve_call(sock)
        except (OSError, RelayError, struct.error, UnicodeError) as exc:
            log.debug("relay: call from %s dropped: %s", self.client_address, exc)
        finally:
            if sock is not self.request:
                sock.close()
