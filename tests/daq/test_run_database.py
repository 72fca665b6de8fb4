import sqlite3

import pytest

from daq.core.run_database import SCHEMA_VERSION, RunDatabase, RunDatabaseError, config_hash


def test_run_numbers_only_increase_across_restarts(tmp_path):
    path = tmp_path / "runs.db"
    db = RunDatabase(path)
    first = db.new_run({"a": 1})
    db.close()
    db = RunDatabase(path)  # a restart
    second = db.new_run({"a": 2})
    assert second == first + 1
    db.db.execute("DELETE FROM runs WHERE run = ?", (second,))
    assert db.new_run({"a": 3}) == second + 1  # never reused, even after a deletion


def test_record_keeps_config_hash_version_and_ledger(tmp_path):
    db = RunDatabase(tmp_path / "runs.db")
    run = db.new_run({"workers": {"count": 2}})
    db.close_run(run, "stopped", {"triggered": 5, "balanced": True})
    rec = db.run(run)
    assert rec["config"] == {"workers": {"count": 2}}
    assert rec["config_hash"] == config_hash({"workers": {"count": 2}})
    assert rec["ledger"] == {"triggered": 5, "balanced": True}
    assert rec["state"] == "stopped" and rec["software_version"]
    assert db.run() == rec  # the latest


def test_environment_variable_chooses_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NA64DAQ_DB", str(tmp_path / "elsewhere.db"))
    assert RunDatabase().path == tmp_path / "elsewhere.db"


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "runs.db"
    RunDatabase(path).close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    con.commit()
    con.close()
    with pytest.raises(RunDatabaseError, match="newer than this na64daq"):
        RunDatabase(path)
