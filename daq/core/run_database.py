"""The run database: run numbers that only increase, and one record per run (SQLite).

The same file holds the conditions and the logbook (``daq/conditions.py``); the schema of the
whole file and its migrations live here (``docs/run-control.md``, ``docs/conditions.md``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 5
#: Statements of each migration, run in one transaction (``docs/run-control.md`` for the
#: runs, ``docs/conditions.md`` for the conditions and the logbook).
MIGRATIONS = {
    1: ["""
    CREATE TABLE runs (
        run INTEGER PRIMARY KEY AUTOINCREMENT,
        start_time REAL NOT NULL,
        stop_time REAL,
        state TEXT NOT NULL,
        config TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        software_version TEXT NOT NULL,
        ledger TEXT,
        error TEXT
    )"""],
    2: ["""
    CREATE TABLE condition_versions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        tag TEXT NOT NULL,
        first_run INTEGER NOT NULL,
        last_run INTEGER,
        created REAL NOT NULL,
        author TEXT NOT NULL,
        comment TEXT NOT NULL
    )""", """
    CREATE TABLE condition_values (
        version INTEGER NOT NULL REFERENCES condition_versions(id),
        channel TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (version, channel)
    )""", """
    CREATE INDEX condition_kind ON condition_versions (kind, first_run)""", """
    CREATE TABLE logbook (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL,
        run INTEGER,
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        version INTEGER REFERENCES condition_versions(id)
    )""", """
    CREATE TABLE logbook_values (
        entry INTEGER NOT NULL REFERENCES logbook(id),
        channel TEXT NOT NULL,
        quantity TEXT NOT NULL,
        value REAL
    )"""],
    3: ["""
    CREATE TABLE unblinding (
        entry INTEGER NOT NULL REFERENCES logbook(id),
        first_run INTEGER NOT NULL,
        last_run INTEGER NOT NULL
    )"""],
    4: ["""
    ALTER TABLE runs ADD COLUMN summary TEXT""", """
    CREATE TABLE alarm_state (
        name TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated REAL NOT NULL
    )"""],
    5: ["""
    CREATE TABLE condition_tables (
        version INTEGER NOT NULL REFERENCES condition_versions(id),
        channel TEXT NOT NULL,
        t0_ns REAL NOT NULL,
        step_ns REAL NOT NULL,
        pulses INTEGER NOT NULL,
        samples BLOB NOT NULL,
        PRIMARY KEY (version, channel)
    )"""],
}


class RunDatabaseError(RuntimeError):
    """The run database cannot be opened or written."""


def default_path() -> Path:
    """``$NA64DAQ_DB``, or the per-user data directory."""
    if os.environ.get("NA64DAQ_DB"):
        return Path(os.environ["NA64DAQ_DB"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "na64daq" / "na64daq.db"


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("na64daq")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class RunDatabase:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise RunDatabaseError(f"run database {self.path}: {exc}") from None

    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise RunDatabaseError(
                f"run database {self.path} has schema version {current}, newer than this "
                f"na64daq ({SCHEMA_VERSION}): upgrade na64daq")
        for v in range(current + 1, SCHEMA_VERSION + 1):
            self.db.execute("BEGIN IMMEDIATE")  # a failed migration leaves nothing half-done
            try:
                for statement in MIGRATIONS[v]:
                    self.db.execute(statement)
                self.db.execute("INSERT INTO schema_version (version) VALUES (?)", (v,))
                self.db.execute("COMMIT")
            except sqlite3.Error:
                self.db.execute("ROLLBACK")
                raise

    def new_run(self, config: dict[str, Any]) -> int:
        """Allocate the next run number and open its record."""
        cur = self.db.execute(
            "INSERT INTO runs (start_time, state, config, config_hash, software_version) "
            "VALUES (?, 'running', ?, ?, ?)",
            (time.time(), json.dumps(config, sort_keys=True), config_hash(config),
             software_version()))
        return int(cur.lastrowid)

    def close_run(self, run: int, state: str, ledger: dict[str, Any] | None,
                  error: str | None = None) -> None:
        self.db.execute("UPDATE runs SET stop_time = ?, state = ?, ledger = ?, error = ? "
                        "WHERE run = ?",
                        (time.time(), state, json.dumps(ledger) if ledger else None, error, run))

    def add_summary(self, run: int, **fields: Any) -> None:
        """Merge ``fields`` into the run's ``summary`` (stop reason, alarms at the end, EOT,
        the end-of-run PNG: ``docs/run-control.md``)."""
        row = self.db.execute("SELECT summary FROM runs WHERE run = ?", (run,)).fetchone()
        if row is None:
            return
        summary = dict(json.loads(row[0]) if row[0] else {}, **fields)
        self.db.execute("UPDATE runs SET summary = ? WHERE run = ?",
                        (json.dumps(summary), run))

    def next_run(self) -> int:
        """The number the next run will get (numbers only increase, across restarts)."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone()
        return int(row[0]) + 1 if row else 1

    def runs_since(self, start_unix_s: float) -> list[dict[str, Any]]:
        """The runs that were running at or after ``start_unix_s``, oldest first."""
        rows = self.db.execute("SELECT run FROM runs WHERE stop_time IS NULL OR stop_time >= ? "
                               "ORDER BY run", (start_unix_s,)).fetchall()
        return [r for (n,) in rows if (r := self.run(n)) is not None]

    def run(self, run: int | None = None) -> dict[str, Any] | None:
        """One run record (the latest without ``run``), as a dict."""
        q = "SELECT * FROM runs " + ("WHERE run = ?" if run is not None else
                                     "ORDER BY run DESC LIMIT 1")
        cur = self.db.execute(q, () if run is None else (run,))
        row = cur.fetchone()
        if row is None:
            return None
        rec = dict(zip([d[0] for d in cur.description], row, strict=True))
        rec["config"] = json.loads(rec["config"])
        rec["ledger"] = json.loads(rec["ledger"]) if rec["ledger"] else None
        rec["summary"] = json.loads(rec["summary"]) if rec["summary"] else {}
        return rec

    def close(self) -> None:
        self.db.close()
