"""The job store of ``impasto serve``: one SQLite file (WAL) in the data folder, shared by the
web process and the worker processes, each with its own connection.

An accepted job is committed (``synchronous=FULL``) before the client hears 202, so it
survives any crash, a power cut included. Workers claim jobs atomically with a lease they
renew (the heartbeat); a job whose lease ran out (its worker was killed, ran out of memory)
goes back to the queue, or is marked failed with the reason once it has been tried
``max_attempts`` times. Events (progress, previews, the end) are rows with a global sequence
number: the server-sent events' ids, so a client that reconnects with ``Last-Event-ID``
misses nothing.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINAL = ("done", "failed", "cancelled")
#: Which lane a picture's method goes to: a quick job never waits behind a long optimisation.
#: Every video job goes to the slow lane, whatever its method: a clip is hundreds of frames
#: (minutes even with AdaIN), and in the quick lane it would hold up the pictures that lane
#: exists to keep moving.
LANES = {"adain": "quick", "wct": "quick", "network": "quick", "optimize": "slow"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    lane TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until REAL,
    cancel INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT UNIQUE,
    client TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    result TEXT,
    timings TEXT
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, lane, created);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, seq);
CREATE TABLE IF NOT EXISTS styles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    artist TEXT,
    year TEXT,
    licence TEXT,
    attribution TEXT,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created REAL NOT NULL
);
"""

JOB_COLUMNS = ("id", "method", "lane", "request", "status", "progress", "error", "attempts",
               "worker", "lease_until", "cancel", "idempotency_key", "client", "created",
               "started", "finished", "result", "timings")


@dataclass(frozen=True)
class Job:
    id: str
    method: str
    lane: str
    request: dict[str, Any]
    status: str
    progress: float
    error: str | None
    attempts: int
    cancel: bool
    created: float
    started: float | None
    finished: float | None
    result: str | None
    timings: dict[str, float] | None
    client: str | None = None

    @property
    def kind(self) -> str:
        """``picture`` or ``video`` (the kind of content the job was submitted with)."""
        return str(self.request.get("kind") or "picture")

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(row["id"], row["method"], row["lane"], json.loads(row["request"]),
                   row["status"], row["progress"], row["error"], row["attempts"],
                   bool(row["cancel"]), row["created"], row["started"], row["finished"],
                   row["result"], json.loads(row["timings"]) if row["timings"] else None,
                   row["client"])


class Store:
    """One connection to the store (make one per process or thread)."""

    def __init__(self, path: str | Path, *, max_attempts: int = 3, durable: bool = True
                 ) -> None:
        self.path = Path(path)
        self.max_attempts = max_attempts
        self.db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None,
                                  check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it returns (the web process: a job it answered 202
        # for survives a power cut). Workers' writes (claims, progress, the end) may use
        # NORMAL: after a power cut a claim or an end may be lost, and the job runs again or,
        # its result already written, is marked done.
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at once (no upgrade deadlocks between processes)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------------------ jobs

    def submit(self, method: str, request: dict[str, Any], *, idempotency_key: str | None,
               client: str | None, job_id: str | None = None, lane: str | None = None
               ) -> tuple[Job, bool]:
        """A new queued job (in ``lane``, by default its method's), committed; or, for an
        idempotency key seen before (from the same client), that job. Returns (job, created)."""
        with self._write() as db:
            if idempotency_key is not None:
                row = db.execute("SELECT * FROM jobs WHERE idempotency_key = ?",
                                 (_scoped(idempotency_key, client),)).fetchone()
                if row is not None:
                    return Job.from_row(row), False
            job_id = job_id or new_id()
            db.execute(
                "INSERT INTO jobs (id, method, lane, request, status, idempotency_key, client, "
                "created) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                (job_id, method, lane or LANES.get(method, "slow"), json.dumps(request),
                 None if idempotency_key is None else _scoped(idempotency_key, client), client,
                 time.time()))
            self._event(db, job_id, "queued", {"status": "queued"})
        job = self.get(job_id)
        assert job is not None
        return job, True

    def by_idempotency_key(self, key: str, client: str | None) -> Job | None:
        row = self.db.execute("SELECT * FROM jobs WHERE idempotency_key = ?",
                              (_scoped(key, client),)).fetchone()
        return None if row is None else Job.from_row(row)

    def get(self, job_id: str) -> Job | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else Job.from_row(row)

    def list(self, *, limit: int, offset: int, client: str | None = None) -> tuple[list[Job],
                                                                                 int]:
        where, args = ("WHERE client IS ?", (client,)) if client is not None else ("", ())
        rows = self.db.execute(f"SELECT * FROM jobs {where} ORDER BY created DESC, id "
                               "LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
        total = self.db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()[0]
        return [Job.from_row(r) for r in rows], int(total)

    def queued(self) -> int:
        return int(self.db.execute(
            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0])

    def claim(self, worker: str, lanes: tuple[str, ...], lease: float) -> Job | None:
        """The oldest queued job of ``lanes`` (or one whose worker's lease ran out), now
        running under ``worker`` until ``lease`` seconds from now unless renewed."""
        now = time.time()
        marks = ",".join("?" * len(lanes))
        with self._write() as db:
            self._reap(db, now)
            row = db.execute(
                f"SELECT id FROM jobs WHERE lane IN ({marks}) AND cancel = 0 AND "
                "(status = 'queued' OR (status = 'running' AND lease_until < ?)) "
                "ORDER BY created LIMIT 1", (*lanes, now)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status = 'running', worker = ?, lease_until = ?, "
                       "attempts = attempts + 1, started = COALESCE(started, ?) WHERE id = ?",
                       (worker, now + lease, now, row["id"]))
            self._event(db, row["id"], "running", {"status": "running", "worker": worker})
        return self.get(row["id"])

    def _reap(self, db: sqlite3.Connection, now: float) -> None:
        """Jobs whose worker stopped renewing its lease: failed once tried too often (the
        others are claimed again by :meth:`claim`)."""
        rows = db.execute("SELECT id, attempts FROM jobs WHERE status = 'running' AND "
                          "lease_until < ? AND attempts >= ?",
                          (now, self.max_attempts)).fetchall()
        for row in rows:
            reason = (f"its worker stopped (killed or out of memory) {row['attempts']} times; "
                      "the job was not tried again")
            db.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ?, "
                       "worker = NULL WHERE id = ?", (reason, now, row["id"]))
            self._event(db, row["id"], "failed", {"status": "failed", "error": reason})

    def heartbeat(self, job_id: str, worker: str, lease: float) -> bool:
        """Renew ``worker``'s lease on the job; False when it is no longer the job's (the
        job was cancelled, or taken over after the lease ran out)."""
        with self._write() as db:
            cur = db.execute("UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ? AND "
                             "status = 'running'", (time.time() + lease, job_id, worker))
        return cur.rowcount == 1

    def progress(self, job_id: str, worker: str, fraction: float, data: dict[str, Any],
                 kind: str = "progress") -> None:
        with self._write() as db:
            cur = db.execute("UPDATE jobs SET progress = ? WHERE id = ? AND worker = ? AND "
                             "status = 'running'", (fraction, job_id, worker))
            if cur.rowcount:
                self._event(db, job_id, kind, data)

    def finish(self, job_id: str, worker: str, *, result: str | None, error: str | None,
               timings: dict[str, float] | None = None, status: str | None = None) -> bool:
        """The end of a job run by ``worker``: done with ``result``, or failed with ``error``
        (or ``status`` cancelled); False when the job is not the worker's any more."""
        final = status or ("done" if error is None else "failed")
        with self._write() as db:
            cur = db.execute(
                "UPDATE jobs SET status = ?, result = ?, error = ?, timings = ?, finished = ?, "
                "progress = CASE WHEN ? = 'done' THEN 1 ELSE progress END, worker = NULL "
                "WHERE id = ? AND worker = ? AND status = 'running'",
                (final, result, error, json.dumps(timings) if timings else None, time.time(),
                 final, job_id, worker))
            if cur.rowcount:
                self._event(db, job_id, final, {"status": final, "error": error})
        return cur.rowcount == 1

    def cancel(self, job_id: str) -> Job | None:
        """Cancel: a queued job at once, a running one at its next step (its worker sees
        the flag); a finished job is left as it is."""
        with self._write() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            if row["status"] == "queued":
                db.execute("UPDATE jobs SET status = 'cancelled', cancel = 1, finished = ? "
                           "WHERE id = ?", (time.time(), job_id))
                self._event(db, job_id, "cancelled", {"status": "cancelled", "error": None})
            elif row["status"] == "running":
                db.execute("UPDATE jobs SET cancel = 1 WHERE id = ?", (job_id,))
        return self.get(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        row = self.db.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row is None or bool(row["cancel"])

    def delete(self, job_id: str) -> Job | None:
        """Forget a job that is not running (its files are the caller's to remove)."""
        with self._write() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row["status"] == "running":
                return None if row is None else Job.from_row(row)
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            db.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
        return Job.from_row(row)

    def expired(self, before: float) -> list[Job]:
        """Finished jobs older than ``before`` (for the retention setting)."""
        rows = self.db.execute("SELECT * FROM jobs WHERE status IN ('done', 'failed', "
                               "'cancelled') AND finished < ?", (before,)).fetchall()
        return [Job.from_row(r) for r in rows]

    # ---------------------------------------------------------------------------- events

    def _event(self, db: sqlite3.Connection, job_id: str, kind: str,
               data: dict[str, Any]) -> None:
        db.execute("INSERT INTO events (job_id, kind, data, created) VALUES (?, ?, ?, ?)",
                   (job_id, kind, json.dumps(data), time.time()))

    def events(self, job_id: str, after: int = 0) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self.db.execute("SELECT seq, kind, data FROM events WHERE job_id = ? AND "
                               "seq > ? ORDER BY seq", (job_id, after)).fetchall()
        return [(int(r["seq"]), r["kind"], json.loads(r["data"])) for r in rows]

    # ---------------------------------------------------------------------------- styles

    def add_style(self, values: dict[str, Any]) -> str:
        style_id = "u-" + secrets.token_hex(6)
        with self._write() as db:
            db.execute("INSERT INTO styles (id, title, artist, year, licence, attribution, "
                       "file, sha256, width, height, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                       "?, ?, ?)",
                       (style_id, values["title"], values.get("artist"), values.get("year"),
                        values.get("licence"), values.get("attribution"), values["file"],
                        values["sha256"], values["width"], values["height"], time.time()))
        return style_id

    def style(self, style_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM styles WHERE id = ?", (style_id,)).fetchone()
        return None if row is None else dict(row)

    def styles(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM styles ORDER BY created")]


def new_id() -> str:
    """A job id: sortable by time, unguessable."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def _scoped(key: str, client: str | None) -> str:
    """An idempotency key is the client's own: two clients may use the same one."""
    return f"{client or ''}\x00{key}"
