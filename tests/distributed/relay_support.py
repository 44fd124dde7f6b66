"""Helpers for the relay tests: an agent's request, the recorded rows, a TCP proxy that misbehaves.

A plain module (not conftest) so test files can import it.
"""

from __future__ import annotations

import socket
import threading

TOOLS = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
         for name in ("bash", "write_file")]


def chat(text: str = "The tests fail in solution.py; fix it.") -> dict:
    """A chat-completions request as an agent sends it."""
    return {"model": "anything", "messages": [{"role": "user", "content": text}], "tools": TOOLS}


def llm_rows(db, agent_id: str) -> list[dict]:
    """The ``llm_calls`` rows of one agent, in order."""
    return [dict(r) for r in db.execute(
        "SELECT task_id, error, prompt_tokens, completion_tokens FROM llm_calls "
        "WHERE agent_id = ? ORDER BY id", (agent_id,))]


class Proxy:
    """A TCP proxy on 127.0.0.1 between a worker's relay and the controller's endpoint.

    It records what passes (``upstream``: worker -> endpoint bytes, ``downstream``: back) and
    can misbehave: ``cut_after_request`` closes both sides once the worker has sent its call
    (a network that drops mid-call); ``tamper`` flips the last byte of the answer (a man in
    the middle); ``black_hole`` accepts and never answers.
    """

    def __init__(self, target: tuple[str, int], *, cut_after_request: bool = False,
                 tamper: bool = False, black_hole: bool = False) -> None:
        self.target = target
        self.cut_after_request, self.tamper, self.black_hole = cut_after_request, tamper, black_hole
        self.upstream = bytearray()
        self.downstream = bytearray()
        self.cut = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(client)
            if self.black_hole:
                continue
            server = socket.create_connection(self.target)
            self.sockets.append(server)
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        from qdagents.distributed._relay import CHALLENGE_BYTES

        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                (self.upstream if up else self.downstream).extend(data)
                if not up and self.tamper and len(self.downstream) > 4 + CHALLENGE_BYTES:
                    data = data[:-1] + bytes([data[-1] ^ 1])
                sink.sendall(data)
                if up and self.cut_after_request:
                    self.cut.set()
                    for sock in (source, sink):
                        sock.shutdown(socket.SHUT_RDWR)
                    break
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass
