"""Unblinding is deliberate: it needs the confirmation that names the run range, it is a
logbook entry with time and author, and only then does any path show the box of those runs.
Every way around it fails."""

import time

import pytest

from calib.conditions import ConditionsWriter
from daq.app.cli import main
from daq.conditions import ConditionsError, blinded
from daq.core.run_database import RunDatabase


def _unblind(capsys, db, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", stdin)
    code = main(["calib", "unblind", "--db", str(db), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "c.db"
    monkeypatch.setenv("NA64DAQ_DB", str(path))  # what the tap, workers and feeds ask
    return path


def test_without_the_exact_confirmation_nothing_is_unblinded(db, detector, capsys,
                                                             monkeypatch):
    import io

    attempts = [("--confirm", "yes"), ("--confirm", "unblind runs 3-9"),
                ("--confirm", "unblind runs 3-8 "  "please")]
    for extra in attempts:
        code, _, err = _unblind(capsys, db, "--runs", "3-8", "--reason", "r", *extra)
        assert code == 2 and err.count("\n") == 1 and "not confirmed" in err
    code, _, err = _unblind(capsys, db, "--runs", "3-8", "--reason", "r",
                            stdin=io.StringIO(""), monkeypatch=monkeypatch)  # no terminal
    assert code == 2 and "not confirmed" in err
    code, _, err = _unblind(capsys, db, "--runs", "8-3", "--reason", "r", "--confirm",
                            "unblind runs 8-3")
    assert code == 2 and "not a range" in err
    code, _, _ = _unblind(capsys, db, "--runs", "3-8", "--reason", "r", "--dry-run",
                          "--confirm", "unblind runs 3-8")
    assert code == 0
    assert all(blinded(detector, run) for run in range(1, 12))
    rdb = RunDatabase(db)
    assert ConditionsWriter(rdb, detector).entries() == []
    rdb.close()


def test_the_confirmed_range_is_unblinded_and_logged(db, detector, capsys):
    before = time.time()
    code, out, _ = _unblind(capsys, db, "--runs", "3-8", "--reason", "box opening, CM 12",
                            "--author", "shifter-a", "--confirm", "unblind runs 3-8")
    assert code == 0 and "unblinded" in out
    assert [r for r in range(1, 12) if not blinded(detector, r)] == [3, 4, 5, 6, 7, 8]
    rdb = RunDatabase(db)
    (entry,) = ConditionsWriter(rdb, detector).entries()
    rdb.close()
    assert entry["author"] == "shifter-a" and entry["time"] >= before
    assert "UNBLINDED runs 3-8" in entry["text"] and "CM 12" in entry["text"]


def test_an_empty_author_or_reason_is_refused(db, detector):
    rdb = RunDatabase(db)
    with pytest.raises(ConditionsError, match="author and a reason"):
        ConditionsWriter(rdb, detector).unblind(1, 2, " ", "why")
    rdb.close()


def test_the_workers_and_the_file_feed_follow_the_record(db, detector, tmp_path, capsys,
                                                          write_run):
    """Run 7's box: hidden from the file feed and the workers' configuration until run 7 is
    unblinded, shown after (so that the hidden case is not hidden for another reason)."""
    from daq.core import records as er
    from daq.core.config_schema import load
    from daq.processes.daq_config import DaqConfig
    from daq.processes.worker import online_setup
    from monitor import snapshot as proto
    from monitor.feeds import FileFeed

    write_run(tmp_path)

    def box_in_snapshot():
        feed = FileFeed(tmp_path / "run_000007.h5", follow=False)
        feed.read_all()
        snap = proto.decode([bytes(p) for p in feed.server.snapshot()])
        return snap.header["blinded"], snap.hist("classes")[er.SIGNAL_BOX]

    cfg = load(DaqConfig, None)
    assert online_setup(cfg, detector, 7)[0].classes.blinded
    assert box_in_snapshot()[0] and box_in_snapshot()[1] == 0
    _unblind(capsys, db, "--runs", "7-7", "--reason", "test", "--confirm", "unblind runs 7-7")
    assert not online_setup(cfg, detector, 7)[0].classes.blinded
    assert online_setup(cfg, detector, 8)[0].classes.blinded
    shown, n_box = box_in_snapshot()
    assert not shown and n_box > 0
