"""The run database: one SQLite file that holds everything a run did.

Every agent, every evaluation with its per-task results, every LLM exchange with its token counts,
every archive insertion and the archive statistics over time go here, so that a run can be resumed,
replayed, plotted and compared from this file alone. Writes are serialised by a lock and committed
at once (WAL mode), so a ``kill -9`` loses at most the work in flight.

This module is the one reader and writer of the schema: the runner, a replay, the CLI and the
analysis (:class:`qdagents.rundata.RunData`, the notebooks) all go through :class:`RunDatabase`;
no SQL lives anywhere else.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import zlib
from collections import OrderedDict
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS agents(
    id TEXT PRIMARY KEY, commit_sha TEXT, parents TEXT, emitter TEXT, step INTEGER,
    created REAL, status TEXT, note TEXT);
CREATE TABLE IF NOT EXISTS proposals(
    step INTEGER PRIMARY KEY, emitter TEXT, parents TEXT, status TEXT, agent_id TEXT,
    reason TEXT, target TEXT, parent_elite INTEGER, created REAL, landed INTEGER, model TEXT,
    cost_usd REAL);
CREATE TABLE IF NOT EXISTS evaluations(
    agent_id TEXT PRIMARY KEY, seq INTEGER UNIQUE, fitness REAL, descriptors TEXT,
    tokens INTEGER, cost_usd REAL, tasks_run INTEGER, tasks_passed INTEGER, stage INTEGER,
    failure TEXT, started REAL, finished REAL, held_out_fitness REAL);
CREATE TABLE IF NOT EXISTS task_results(
    agent_id TEXT, task_id TEXT, passed INTEGER, reason TEXT, tokens INTEGER,
    llm_calls INTEGER, tools_offered TEXT, lines_changed INTEGER, lines_emitted INTEGER,
    seconds REAL, exit_code INTEGER, log TEXT, held_out INTEGER, tampering TEXT,
    failures TEXT, PRIMARY KEY(agent_id, task_id));
CREATE TABLE IF NOT EXISTS llm_calls(
    id INTEGER PRIMARY KEY, request_hash TEXT, occurrence INTEGER, purpose TEXT,
    agent_id TEXT, task_id TEXT, model TEXT, request TEXT, response TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL, cached INTEGER,
    latency REAL, error TEXT, created REAL);
CREATE TABLE IF NOT EXISTS blobs(
    id INTEGER PRIMARY KEY, digest BLOB UNIQUE, compressed INTEGER, data BLOB);
CREATE INDEX IF NOT EXISTS llm_calls_hash ON llm_calls(request_hash, occurrence);
CREATE INDEX IF NOT EXISTS llm_calls_agent ON llm_calls(agent_id, task_id);
CREATE TABLE IF NOT EXISTS insertions(
    seq INTEGER, agent_id TEXT, status TEXT, cell INTEGER, fitness REAL, parent_elite INTEGER);
CREATE TABLE IF NOT EXISTS archive_stats(
    seq INTEGER PRIMARY KEY, elites INTEGER, coverage REAL, qd_score REAL, best REAL,
    tokens INTEGER, cost_usd REAL, seconds REAL);
"""

#: Columns added since the first schema: an older run database gets them when it is opened.
ADDED_COLUMNS = {"evaluations": {"held_out_fitness": "REAL"},
                 "task_results": {"held_out": "INTEGER", "tampering": "TEXT",
                                  "failures": "TEXT"},
                 "llm_calls": {"request_blobs": "TEXT", "response_blobs": "TEXT"},
                 "proposals": {"model": "TEXT", "cost_usd": "REAL"}}

#: Request fields stored once per distinct value in ``blobs`` (a conversation's messages one by
#: one, the tool schemas whole), so a call costs its new messages, not its whole conversation; a
#: response's messages go there too (the next request carries each of them again).
BLOB_FIELDS = ("messages", "tools")
#: Texts at least this long are stored zlib-compressed (when that makes them smaller).
COMPRESS_FROM = 256


#: Per emitter: children that entered the archive, and finished attempts (failed, duplicate and
#: rejected proposals included; attempts still in flight left out).
EMITTER_RECORD_SQL = (
    "SELECT p.emitter, SUM(i.status IN ('new', 'improve')), COUNT(*) FROM proposals p "
    "LEFT JOIN insertions i ON i.agent_id = p.agent_id AND p.status = 'created' "
    "LEFT JOIN evaluations e ON e.agent_id = p.agent_id "
    "WHERE p.step > 0 AND (p.status IN ('failed', 'duplicate', 'rejected') "
    "OR e.agent_id IS NOT NULL) GROUP BY p.emitter")


class RunDatabase:
    """Thread-safe access to ``run.sqlite``.

    Args:
        path: The database file; created with the schema if missing.
        read_only: Open an existing file without writing to it (the analysis does, so a run can
            be looked at while it goes); a table an older or unfinished run lacks reads empty.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._totals: dict | None = None   # llm_totals(), read once, then kept by record_llm_call
        self._blob_ids: OrderedDict[bytes, int] = OrderedDict()   # recent digests -> blobs.id
        if read_only:
            if not self.path.is_file():
                raise FileNotFoundError(f"no run database at {self.path}")
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                         check_same_thread=False, timeout=30)
            self._conn.row_factory = sqlite3.Row
            return
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)
            for table, columns in ADDED_COLUMNS.items():
                present = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
                for column, kind in columns.items():
                    if column not in present:
                        self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def execute(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """Runs one statement under the lock and returns all rows."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if self.read_only and "no such" in str(exc):   # a table an older run lacks
                    return []
                raise

    def _insert(self, table: str, row: dict, *, replace: bool = False) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self.execute(f"{verb} INTO {table}({cols}) VALUES ({marks})", tuple(row.values()))

    # meta ---------------------------------------------------------------------------------------
    def set_meta(self, key: str, value) -> None:
        self._insert("meta", {"key": key, "value": json.dumps(value)}, replace=True)

    def get_meta(self, key: str, default=None):
        rows = self.execute("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    # agents -------------------------------------------------------------------------------------
    def add_agent(self, *, agent_id: str, commit_sha: str, parents: list[str], emitter: str,
                  step: int, note: str = "") -> bool:
        """Records a new agent as pending. Returns False if this id (this code) already exists."""
        with self._lock:
            if self.execute("SELECT 1 FROM agents WHERE id = ?", (agent_id,)):
                return False
            self._insert("agents", {"id": agent_id, "commit_sha": commit_sha,
                                    "parents": json.dumps(parents), "emitter": emitter,
                                    "step": step, "created": time.time(), "status": "pending",
                                    "note": note})
            return True

    def add_proposal(self, *, step: int, emitter: str, parents: list[str], status: str,
                     agent_id: str | None = None, reason: str | None = None,
                     target: str | None = None, parent_elite: bool | None = None,
                     model: str | None = None, cost_usd: float | None = None) -> None:
        """Records one attempt to make a child: created, duplicate (code seen before) or failed;
        ``model`` is the emitter's model and ``cost_usd`` what its calls cost."""
        self._insert("proposals", {"step": step, "emitter": emitter, "parents": json.dumps(parents),
                                   "status": status, "agent_id": agent_id, "reason": reason,
                                   "target": target, "created": time.time(), "model": model,
                                   "cost_usd": cost_usd,
                                   "parent_elite": None if parent_elite is None
                                   else int(parent_elite)}, replace=True)

    def set_landed(self, step: int, landed: bool) -> None:
        """Whether a directed child moved one bin the way its target asked."""
        self.execute("UPDATE proposals SET landed = ? WHERE step = ?", (int(landed), step))

    def emitter_record(self) -> dict[str, tuple[int, int]]:
        """Per emitter: (children that entered the archive, attempts that did not), finished
        attempts only (a failed or duplicate proposal counts as not entering)."""
        return {emitter: (int(entered or 0), int(finished) - int(entered or 0))
                for emitter, entered, finished in self.execute(EMITTER_RECORD_SQL)}

    def next_step(self) -> int:
        """The step number of the next proposal (the seed agent is step 0)."""
        row = self.execute("SELECT MAX(s) AS s FROM (SELECT MAX(step) AS s FROM proposals "
                           "UNION ALL SELECT MAX(step) FROM agents)")[0]
        return 0 if row["s"] is None else row["s"] + 1

    def has_agent(self, agent_id: str) -> bool:
        return bool(self.execute("SELECT 1 FROM agents WHERE id = ?", (agent_id,)))

    def agent(self, agent_id: str) -> dict | None:
        rows = self.execute("SELECT * FROM agents WHERE id = ?", (agent_id,))
        if not rows:
            return None
        row = dict(rows[0])
        row["parents"] = json.loads(row["parents"])
        return row

    def pending_agents(self) -> list[str]:
        """Agents created but not evaluated, oldest first: the work a resume picks up."""
        return [r["id"] for r in self.execute(
            "SELECT id FROM agents WHERE status = 'pending' ORDER BY step, created")]

    def count_agents(self) -> int:
        return self.execute("SELECT COUNT(*) AS n FROM agents")[0]["n"]

    def children_counts(self) -> dict[str, int]:
        """How many children each agent has had (DGM's selection uses it)."""
        counts: dict[str, int] = {}
        for row in self.execute("SELECT parents FROM agents"):
            for parent in json.loads(row["parents"]):
                counts[parent] = counts.get(parent, 0) + 1
        return counts

    # evaluations --------------------------------------------------------------------------------
    def add_evaluation(self, evaluation, *, started: float) -> int:
        """Stores an evaluation and its task results in one transaction; returns its ``seq``."""
        with self._lock:
            seq = self.execute("SELECT COALESCE(MAX(seq), 0) + 1 AS s FROM evaluations")[0]["s"]
            self._conn.execute("BEGIN")
            try:
                self._insert("evaluations", {
                    "agent_id": evaluation.agent_id, "seq": seq, "fitness": evaluation.fitness,
                    "descriptors": json.dumps(evaluation.descriptors),
                    "tokens": evaluation.tokens, "cost_usd": evaluation.cost_usd,
                    "tasks_run": sum(not getattr(t, "held_out", False) for t in evaluation.tasks),
                    "tasks_passed": evaluation.tasks_passed,
                    "stage": evaluation.stage, "failure": evaluation.failure,
                    "started": started, "finished": time.time(),
                    "held_out_fitness": getattr(evaluation, "held_out_fitness", None)})
                for t in evaluation.tasks:
                    self._insert("task_results", {
                        "agent_id": evaluation.agent_id, "task_id": t.task_id,
                        "passed": int(t.passed), "reason": t.reason, "tokens": t.tokens,
                        "llm_calls": t.llm_calls, "tools_offered": json.dumps(t.tools_offered),
                        "lines_changed": t.lines_changed, "lines_emitted": t.lines_emitted,
                        "seconds": t.seconds, "exit_code": t.exit_code, "log": t.log,
                        "held_out": int(getattr(t, "held_out", False)),
                        "tampering": json.dumps(t.tampering) if getattr(t, "tampering", None)
                        else None,
                        "failures": json.dumps(getattr(t, "failures", None) or [])},
                        replace=True)
                status = "failed" if evaluation.failure else "evaluated"
                self._conn.execute("UPDATE agents SET status = ? WHERE id = ?",
                                   (status, evaluation.agent_id))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return seq

    def mark_lost(self) -> int:
        """Proposals a killed run left in flight are released (status ``lost``); returns how many."""
        with self._lock:
            lost = self.execute("SELECT COUNT(*) AS n FROM proposals WHERE status = 'in_flight'")
            self.execute("UPDATE proposals SET status = 'lost', reason = 'in flight when the run "
                         "stopped' WHERE status = 'in_flight'")
            return lost[0]["n"]

    def history(self) -> tuple[list[dict], list[dict]]:
        """What the run told its archive, for a resume to tell again.

        Returns ``(barren, evaluated)``: the finished proposals that made no new agent (failed,
        duplicate, rejected), and every evaluation in ``seq`` order with the proposal that made
        its agent. Each item has ``step, emitter, parents, target, parent_elite, status,
        agent_id``; evaluated ones also ``fitness, descriptors, failure, stage``.
        """
        barren = [self._decoded(r) for r in self.execute(
            "SELECT step, emitter, parents, target, parent_elite, status, agent_id, model, "
            "cost_usd FROM proposals "
            "WHERE step > 0 AND status IN ('failed', 'duplicate', 'rejected') ORDER BY step")]
        evaluated = [self._decoded(r) for r in self.execute(
            "SELECT a.step, a.emitter, a.parents, p.target, p.parent_elite, 'created' AS status, "
            "p.model, p.cost_usd, "
            "e.agent_id, e.fitness, e.descriptors, e.failure, e.stage FROM evaluations e "
            "JOIN agents a ON a.id = e.agent_id LEFT JOIN proposals p ON p.step = a.step "
            "ORDER BY e.seq")]
        return barren, evaluated

    def pending(self) -> list[dict]:
        """Agents created but not evaluated, oldest first, with the proposal that made them: the
        work a resume picks up (items as in :meth:`history`)."""
        return [self._decoded(r) for r in self.execute(
            "SELECT a.step, a.emitter, a.parents, p.target, p.parent_elite, 'created' AS status, "
            "p.model, p.cost_usd, "
            "a.id AS agent_id FROM agents a LEFT JOIN proposals p ON p.step = a.step "
            "WHERE a.status = 'pending' ORDER BY a.step, a.created")]

    def recorded_proposals(self) -> list[dict]:
        """Every finished attempt to make a child, by step (what a replay re-executes)."""
        return [self._decoded(r) for r in self.execute(
            "SELECT step, emitter, parents, target, parent_elite, status, agent_id, model "
            "FROM proposals WHERE step > 0 AND status NOT IN ('in_flight', 'lost') ORDER BY step")]

    def evaluation_order(self) -> list[str]:
        """Agent ids in the order their evaluations finished (``seq``)."""
        return [r["agent_id"] for r in self.execute(
            "SELECT agent_id FROM evaluations ORDER BY seq")]

    def agent_ids(self) -> list[str]:
        return [r["id"] for r in self.execute("SELECT id FROM agents ORDER BY step, created")]

    @staticmethod
    def _decoded(row: sqlite3.Row) -> dict:
        item = dict(row)
        for key in ("parents", "descriptors"):
            if key in item:
                item[key] = json.loads(item[key]) if item[key] else ([] if key == "parents" else None)
        if item.get("parent_elite") is not None:
            item["parent_elite"] = bool(item["parent_elite"])
        return item

    def count_evaluations(self) -> int:
        return self.execute("SELECT COUNT(*) AS n FROM evaluations")[0]["n"]

    def evaluations(self) -> list[dict]:
        """All evaluations in completion order, descriptors decoded."""
        rows = [dict(r) for r in self.execute("SELECT * FROM evaluations ORDER BY seq")]
        for row in rows:
            row["descriptors"] = json.loads(row["descriptors"]) if row["descriptors"] else None
        return rows

    def evaluation(self, agent_id: str) -> dict | None:
        rows = self.execute("SELECT * FROM evaluations WHERE agent_id = ?", (agent_id,))
        if not rows:
            return None
        row = dict(rows[0])
        row["descriptors"] = json.loads(row["descriptors"]) if row["descriptors"] else None
        return row

    def held_out_scores(self) -> tuple[list[str], dict[str, float]]:
        """The run's held-out task ids and each agent's held-out fitness (empty for a run without
        a held-out split, or one recorded before held-out columns existed)."""
        try:
            tasks = [r[0] for r in self.execute("SELECT DISTINCT task_id FROM task_results "
                                                "WHERE held_out = 1 ORDER BY task_id")]
            scores = {r[0]: float(r[1]) for r in self.execute(
                "SELECT agent_id, held_out_fitness FROM evaluations "
                "WHERE held_out_fitness IS NOT NULL")}
        except sqlite3.OperationalError:   # a read-only database from before the columns
            return [], {}
        return tasks, scores

    def task_results(self, agent_id: str | None = None) -> list[dict]:
        """One agent's task results in the order they ran (every agent's, without an id)."""
        if agent_id is None:
            rows = [dict(r) for r in self.execute("SELECT * FROM task_results ORDER BY rowid")]
        else:
            rows = [dict(r) for r in self.execute(
                "SELECT * FROM task_results WHERE agent_id = ? ORDER BY rowid", (agent_id,))]
        for row in rows:
            row["tools_offered"] = json.loads(row["tools_offered"] or "[]")
            row["tampering"] = json.loads(row["tampering"]) if row.get("tampering") else []
            row["failures"] = json.loads(row["failures"] or "[]") if row.get("failures") else []
        return rows

    # archive ------------------------------------------------------------------------------------
    def add_insertion(self, *, seq: int, agent_id: str, status: str, cell: int | None,
                      fitness: float, parent_elite: bool | None) -> None:
        self._insert("insertions", {"seq": seq, "agent_id": agent_id, "status": status,
                                    "cell": cell, "fitness": fitness,
                                    "parent_elite": None if parent_elite is None
                                    else int(parent_elite)})

    def add_archive_stats(self, *, seq: int, elites: int, coverage: float, qd_score: float,
                          best: float, tokens: int, cost_usd: float, seconds: float) -> None:
        self._insert("archive_stats", {"seq": seq, "elites": elites, "coverage": coverage,
                                       "qd_score": qd_score, "best": best, "tokens": tokens,
                                       "cost_usd": cost_usd, "seconds": seconds}, replace=True)

    # the analysis' view (qdagents.rundata) ---------------------------------------------------------
    def meta(self) -> dict:
        """Every ``meta`` key, its value decoded (text that is not JSON kept as it is)."""
        return {r["key"]: _decoded_json(r["value"])
                for r in self.execute("SELECT key, value FROM meta")}

    def agent_rows(self) -> list[tuple]:
        """``(id, parents, emitter, step, created, status, commit_sha)`` per agent, in creation
        order (``parents`` as JSON text)."""
        return [tuple(r) for r in self.execute(
            "SELECT id, parents, emitter, step, created, status, commit_sha FROM agents "
            "ORDER BY step, created, rowid")]

    def rows(self, table: str, columns: list[str]) -> list[tuple]:
        """``columns`` of ``evaluations``, ``insertions`` or ``archive_stats``, in ``seq`` order."""
        order = {"evaluations": "seq", "insertions": "seq, rowid", "archive_stats": "seq"}[table]
        return [tuple(r) for r in self.execute(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")]

    def llm_usage(self) -> tuple:
        """``(calls, provider calls, cache hits, errors, tokens, cost_usd)`` over ``llm_calls``:
        a provider call is a row with ``cached = 0`` and no error."""
        rows = self.execute("""
            SELECT COUNT(*), SUM(cached = 0 AND error IS NULL), SUM(cached != 0),
                   SUM(error IS NOT NULL),
                   SUM(COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0)),
                   SUM(COALESCE(cost_usd, 0)) FROM llm_calls""")
        return tuple(v or 0 for v in (tuple(rows[0]) if rows else (0,) * 6))

    def proposal_counts(self) -> dict[str, int]:
        """Attempts to make a child, by status; and ``directed_aimed``/``directed_landed``: how
        many directed children were judged, and how many moved as asked."""
        counts = {r[0]: r[1] for r in self.execute(
            "SELECT status, COUNT(*) FROM proposals GROUP BY status")}
        aimed = self.execute("SELECT COUNT(landed), COALESCE(SUM(landed), 0) FROM proposals "
                             "WHERE landed IS NOT NULL")
        counts["directed_aimed"], counts["directed_landed"] = tuple(aimed[0]) if aimed else (0, 0)
        return counts

    # llm calls ----------------------------------------------------------------------------------
    def record_llm_call(self, **row) -> None:
        """Stores one LLM exchange (columns of ``llm_calls``; dicts are JSON-encoded).

        ``request`` (a dict or its JSON text) is stored packed: each message, and the tool
        schemas, once per distinct value in ``blobs``, the call keeping their ids in
        ``request_blobs``; the response's messages likewise (``response_blobs``).
        :meth:`llm_exchanges` and :meth:`find_recording` give both back whole.
        """
        request, response = row.pop("request", None), row.pop("response", None)
        row = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()}
        row.setdefault("created", time.time())
        with self._lock:
            if request is not None:
                row["request"], row["request_blobs"] = self._packed(request)
            if response is not None:
                row["response"], row["response_blobs"] = self._packed_response(response)
            self._insert("llm_calls", row)
            if self._totals is not None:
                self._count_llm_call(self._totals, row)

    def _packed(self, request) -> tuple[str, str | None]:
        """``(rest of the request as JSON, {field: blob id(s)} as JSON)``; text that is not a
        JSON object is kept whole (``None`` for the ids)."""
        if isinstance(request, str):
            try:
                decoded = json.loads(request)
            except ValueError:
                return request, None
            if not isinstance(decoded, dict):
                return request, None
            request = decoded
        if not isinstance(request, dict):
            return json.dumps(request, default=repr), None
        rest, refs = dict(request), {}
        for name in BLOB_FIELDS:
            value = rest.get(name)
            if name == "messages" and isinstance(value, list):
                refs[name] = [self._blob(m) for m in rest.pop(name)]
            elif value is not None:
                refs[name] = self._blob(rest.pop(name))
        return (json.dumps(rest, default=repr),
                json.dumps(refs, separators=(",", ":")) if refs else None)

    def _packed_response(self, response) -> tuple[str, str | None]:
        """``(response without its choices' messages, [blob id per choice] as JSON)``."""
        decoded = _decoded_json(response) if isinstance(response, str) else response
        choices = decoded.get("choices") if isinstance(decoded, dict) else None
        if not isinstance(choices, list) or not choices or not all(
                isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
            return (response if isinstance(response, str) else json.dumps(response, default=repr),
                    None)
        rest = dict(decoded, choices=[{k: v for k, v in c.items() if k != "message"}
                                      for c in choices])
        refs = [self._blob(c["message"]) for c in choices]
        return json.dumps(rest, default=repr), json.dumps(refs, separators=(",", ":"))

    def _whole_response(self, row: dict):
        """A row's response decoded and, if it was packed, with its messages put back."""
        response = _decoded_json(row.get("response"))
        refs = json.loads(row.get("response_blobs") or "null")
        if refs and isinstance(response, dict):
            values = self._blob_values(set(refs))
            for choice, ref in zip(response["choices"], refs):
                choice["message"] = values[ref]
        return response

    def _blob(self, value) -> int:
        """The ``blobs`` id of a JSON value, stored the first time it is seen."""
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
        data = text.encode("utf-8")
        digest = hashlib.sha256(data).digest()[:16]
        known = self._blob_ids.get(digest)
        if known is None:
            packed = zlib.compress(data, 6) if len(data) >= COMPRESS_FROM else data
            compressed = len(packed) < len(data)
            self.execute("INSERT OR IGNORE INTO blobs(digest, compressed, data) VALUES (?, ?, ?)",
                         (digest, int(compressed), packed if compressed else data))
            known = self.execute("SELECT id FROM blobs WHERE digest = ?", (digest,))[0]["id"]
        self._blob_ids[digest] = known
        self._blob_ids.move_to_end(digest)
        if len(self._blob_ids) > 100_000:   # a cache of the recent ones, not the whole table
            self._blob_ids.popitem(last=False)
        return known

    def _blob_values(self, ids: set[int]) -> dict[int, object]:
        values = {}
        for chunk in (sorted(ids)[i:i + 500] for i in range(0, len(ids), 500)):
            for r in self.execute(f"SELECT id, compressed, data FROM blobs WHERE id IN "
                                  f"({', '.join('?' * len(chunk))})", tuple(chunk)):
                data = zlib.decompress(r["data"]) if r["compressed"] else bytes(r["data"])
                values[r["id"]] = json.loads(data.decode("utf-8"))
        return values

    def llm_exchanges(self, *, agent_id: str | None = None, task_id: str | None = None,
                      purpose: str | None = None) -> list[dict]:
        """LLM exchanges in the order they were recorded, each an ``llm_calls`` row with
        ``request`` rebuilt whole (a dict; text where it was not JSON) and ``response`` decoded.
        Rows recorded before requests were packed read the same."""
        where = [(c, v) for c, v in (("agent_id", agent_id), ("task_id", task_id),
                                     ("purpose", purpose)) if v is not None]
        sql = "SELECT * FROM llm_calls" + (" WHERE " + " AND ".join(f"{c} = ?" for c, _ in where)
                                           if where else "") + " ORDER BY id"
        rows = [dict(r) for r in self.execute(sql, tuple(v for _, v in where))]
        refs = {}
        for row in rows:
            refs[row["id"]] = json.loads(row.pop("request_blobs", None) or "null")
        ids = {i for r in refs.values() if r for v in r.values()
               for i in (v if isinstance(v, list) else [v])}
        values = self._blob_values(ids)
        for row in rows:
            row["request"] = _decoded_json(row["request"])
            if isinstance(row["request"], dict) and refs[row["id"]]:
                for name, ref in refs[row["id"]].items():
                    row["request"][name] = ([values[i] for i in ref] if isinstance(ref, list)
                                            else values[ref])
            row["response"] = self._whole_response(row)
            row.pop("response_blobs", None)
        return rows

    def find_recording(self, request_hash: str, occurrence: int) -> dict | None:
        """The first successful recorded response for a request, for replay and caching."""
        rows = self.execute(
            "SELECT * FROM llm_calls "
            "WHERE request_hash = ? AND occurrence = ? AND error IS NULL AND response IS NOT NULL "
            "ORDER BY id LIMIT 1", (request_hash, occurrence))
        if not rows:
            return None
        row = dict(rows[0])
        return {"response": self._whole_response(row), "prompt_tokens": row["prompt_tokens"],
                "completion_tokens": row["completion_tokens"], "cost_usd": row["cost_usd"]}

    def find_recording_at(self, agent_id: str, task_id: str, position: int) -> dict | None:
        """The response to an agent's ``position``-th request on a task (replay fallback)."""
        rows = self.execute(
            "SELECT * FROM llm_calls "
            "WHERE purpose = 'agent' AND agent_id = ? AND task_id = ? ORDER BY id "
            "LIMIT 1 OFFSET ?", (agent_id, task_id, position))
        if not rows or rows[0]["error"] is not None or rows[0]["response"] is None:
            return None
        row = dict(rows[0])
        return {"response": self._whole_response(row), "prompt_tokens": row["prompt_tokens"],
                "completion_tokens": row["completion_tokens"], "error": None}

    def llm_totals(self) -> dict:
        """Token and cost totals over every LLM exchange of the run.

        Summed from the table once, then kept up to date by :meth:`record_llm_call`, so asking
        after every evaluation costs the same at the run's end as at its start.
        """
        with self._lock:
            if self._totals is None:
                row = self.execute(
                    "SELECT COUNT(*) AS calls,"
                    " COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens,"
                    " COALESCE(SUM(cost_usd), 0) AS cost_usd,"
                    " COALESCE(SUM(cached), 0) AS cache_hits FROM llm_calls")[0]
                self._totals = dict(row)
            return dict(self._totals)

    @staticmethod
    def _count_llm_call(totals: dict, row: dict) -> None:
        totals["calls"] += 1
        if row.get("prompt_tokens") is not None and row.get("completion_tokens") is not None:
            totals["tokens"] += row["prompt_tokens"] + row["completion_tokens"]
        totals["cost_usd"] += row.get("cost_usd") or 0
        totals["cache_hits"] += row.get("cached") or 0


def _decoded_json(text):
    """JSON text decoded; other text (or None) as it is."""
    try:
        return json.loads(text) if text is not None else None
    except (TypeError, ValueError):
        return text
