import os
import re
import subprocess
import sys

import pytest

from emulator.frames_file import read_run


def _na64daq(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "daq.app.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


@pytest.mark.parametrize("command, words", [
    ([], ["demo", "emulate", "replay", "detector", "config", "run", "ctl", "status"]),
    (["demo"], ["--out", "--spills", "--intensity", "--no-gui", "ledger"]),
    (["run"], ["--config", "na64daq ctl"]),
    (["ctl"], ["start", "stop", "status", "shutdown"]),
    (["status"], ["--json", "--run"]),
    (["emulate"], ["--out", "--source", "--real-time", "--intensity", "--spills"]),
    (["replay"], ["--pace", "as fast as"]),
    (["detector"], ["--channels"]),
    (["config"], ["default"]),
    (["inspect"], ["--verify", "--json", "checksum"]),
    (["recover"], ["--out", "SWMR"]),
    (["export"], ["--root", "TTree"]),
    (["reco"], ["--calibration", "--config", "--out"]),
])
def test_every_command_explains_itself(command, words):
    proc = _na64daq(*command, "--help")
    assert proc.returncode == 0
    for w in words:
        assert w in proc.stdout


def test_emulate_to_a_file_summarises_it(tmp_path):
    proc = _na64daq("emulate", "--out", "run.h5", "--set", "spill.duration_s=2.0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = read_run(tmp_path / "run.h5")
    n = len(run.events)
    assert n > 1000 and len(run.spills) == 1
    assert f"{n} events" in proc.stdout
    for kind in ("physics", "calibration", "random"):
        count = int(re.search(rf"{kind}\s+(\d+) events", proc.stdout).group(1))
        assert count == int((run.events["trigger"] == {"physics": 1, "calibration": 2,
                                                        "random": 3}[kind]).sum())
    assert "pileup:" in proc.stdout


def test_config_lists_keys_with_ranges():
    proc = _na64daq("config")
    assert proc.returncode == 0
    assert "beam.intensity_per_spill = 5000000.0 [e-/spill]" in proc.stdout
    assert ">= 0 and <= 2e+07" in proc.stdout


def test_detector_lists_channels():
    proc = _na64daq("detector", "--channels")
    assert proc.returncode == 0
    assert "126 channels" in proc.stdout
    assert re.search(r"HCAL2:0:1\s+\(0-1-2\)", proc.stdout)


def test_demo_runs_the_daq_and_status_shows_the_ledger(tmp_path, source_base_port,
                                                       private_endpoints):
    import json
    import os

    env = dict(os.environ, NA64DAQ_DB=str(tmp_path / "runs.db"))
    private = []
    for name, endpoint in private_endpoints.items():
        private += ["--set", f"endpoints.{name}='{endpoint}'"]
    base = source_base_port
    cmd = [sys.executable, "-m", "daq.app.cli"]
    proc = subprocess.run([*cmd, "demo", "--no-gui", "--out", str(tmp_path / "runs"),
                           "--set", "emulator.spill.duration_s=1.0",
                           "--set", f"emulator.publish.base_port={base}", *private],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "balanced" in proc.stdout and "NOT BALANCED" not in proc.stdout
    assert re.search(r"events written \([\d,]+/s\)", proc.stderr)  # progress while running
    status = subprocess.run([*cmd, "status", "--json"], capture_output=True, text=True,
                            timeout=60, env=env)
    rec = json.loads(status.stdout)
    ledger = rec["ledger"]
    assert ledger["balanced"] is True and rec["state"] == "stopped"
    triggered = int(re.search(r"triggered\s+(\d+)", proc.stdout).group(1))
    assert ledger["triggered"] == triggered == ledger["written_complete"] > 500
    for stage in ("sources", "builder", "workers", "tap"):
        assert stage in ledger["stages"]
    path = tmp_path / "runs" / f"run_{rec['run']:06d}.h5"
    inspect = subprocess.run([*cmd, "inspect", "--verify", "--json", str(path)],
                             capture_output=True, text=True, timeout=60, env=env)
    summary = json.loads(inspect.stdout)  # the run file says what the run record says
    assert summary["events"] == ledger["written_complete"] and summary["closed"]
    assert summary["ledger"]["balanced"] and summary["verification"]["ok"]
    assert summary["ledger"]["triggered"] == ledger["triggered"]
    assert summary["provenance"]["truth_file"] == f"run_{rec['run']:06d}.truth.h5"
    assert summary["provenance"]["run_started_unix_s"] == rec["start_time"]
    assert summary["provenance"]["config_sha256"] == rec["config_hash"]


def test_demo_into_a_directory_it_cannot_make_says_so(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    proc = _na64daq("demo", "--no-gui", "--out", str(tmp_path / "file" / "runs"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("na64daq: error: ") and "Not a directory" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_run_and_ctl_drive_a_daq(tmp_path, daq_toml):
    import json
    import os

    config = daq_toml
    env = dict(os.environ, NA64DAQ_DB=str(tmp_path / "runs.db"))
    cmd = [sys.executable, "-m", "daq.app.cli"]
    daq = subprocess.Popen([*cmd, "run", "--config", str(config)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)

    def ctl(what):
        out = subprocess.run([*cmd, "ctl", what, "--config", str(config)], capture_output=True,
                             text=True, timeout=120, env=env)
        return out.returncode, json.loads(out.stdout) if out.stdout.strip() else out.stderr

    try:
        code, answer = ctl("status")
        assert code == 0 and answer["state"] == "configured", answer
        code, answer = ctl("stop")  # not allowed when nothing runs: refused, said why
        assert code == 1 and "not allowed in state 'configured'" in answer["error"]
        code, answer = ctl("start")
        assert code == 0 and answer["state"] == "running" and answer["run"] >= 1
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            code, answer = ctl("status")
            if answer["state"] == "configured" and answer["ledger"]:
                break
            time.sleep(0.5)
        assert answer["ledger"]["balanced"] is True and answer["outcome"] == "stopped"
        # a monitor on another machine writes the logbook through run control
        from conftest import wait_until

        from daq.conditions import Conditions
        from daq.core.config_schema import load
        from daq.core.detector import Detector
        from daq.core.run_database import RunDatabase
        from daq.processes.daq_config import DaqConfig
        from monitor.run_control_client import ControlButtons, NoteWriter

        control = load(DaqConfig, str(config)).endpoints.control
        buttons = ControlButtons(control)  # the DAQ panel's, asked in a thread
        assert buttons.ask("status") == "status: asked..."
        assert wait_until(lambda: buttons.last_answer == "status: ok", 30)
        notes = NoteWriter(Detector.load(), control)
        assert notes("HV trip on ECAL 3-3, reset", "problem", "shifter-b", 1) == \
            "entry added through run control"
        assert "one of" in notes("x", "gossip", "shifter-b", 1)  # refused, with the reason
        assert "author" in notes("x", "shift", " ", 1)
        db = RunDatabase(tmp_path / "runs.db")
        entries = Conditions(db, Detector.load()).entries()
        db.close()
        assert [(e["text"], e["author"], e["run"]) for e in entries
                if not e["text"].startswith("[run]")] == \
            [("[problem] HV trip on ECAL 3-3, reset", "shifter-b", 1)]
        # run control wrote the run's start and stop itself, naming what it took
        started, stopped = (e["text"] for e in entries if e["text"].startswith("[run]"))
        assert started.startswith("[run] run 1 started: emulated crates, 100 GeV electrons")
        assert stopped.startswith("[run] run 1 stopped (end of spills): 1 spill, ")
        assert "balanced" in stopped and "NOT" not in stopped
        code, answer = ctl("shutdown")
        assert code == 0 and answer["state"] == "idle"
        assert daq.wait(timeout=30) == 0
    finally:
        if daq.poll() is None:
            daq.kill()


def test_a_failed_end_of_run_png_is_said_and_kept_in_the_run_record(tmp_path, daq_toml):
    """The PNG's process fails (here its path is taken by a directory): demo says so with
    its cause, and the record keeps it (it failed silently, into a log, before)."""
    from daq.core.run_database import RunDatabase

    runs = tmp_path / "runs"
    (runs / "run_000001.monitor.png").mkdir(parents=True)
    r = subprocess.run([sys.executable, "-m", "daq.app.cli", "demo", "--no-gui", "--spills", "1",
                        "--config", str(daq_toml), "--out", str(runs)],
                       env=dict(os.environ, NA64DAQ_DB=str(tmp_path / "runs.db")),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    said = [x for x in r.stdout.splitlines() if "monitor PNG" in x]
    assert len(said) == 1 and said[0].startswith("run 1: monitor PNG failed: ") and \
        "cannot write the PNG" in said[0], r.stdout
    png = RunDatabase(tmp_path / "runs.db").run(1)["summary"]["monitor_png"]
    assert png["state"] == "failed" and "cannot write the PNG" in png["error"], png


def test_a_monitor_window_that_fails_is_said_not_announced(tmp_path, daq_toml):
    """demo opens the window when there is a display; one that dies at once (here no X
    server answers on the display) is reported with its cause, never as opened."""
    env = dict(os.environ, NA64DAQ_DB=str(tmp_path / "runs.db"), DISPLAY=":4242")
    env.pop("QT_QPA_PLATFORM", None)
    r = subprocess.run([sys.executable, "-m", "daq.app.cli", "demo", "--spills", "2",
                        "--config", str(daq_toml), "--out", str(tmp_path / "runs")],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "monitor window starting" in r.stdout and "opened" not in r.stdout
    failed = [x for x in r.stdout.splitlines() if x.startswith("the monitor window failed")]
    assert len(failed) == 1, r.stdout
    log = (tmp_path / "runs" / "logs" / "monitor-window.log").read_text()
    assert log.strip().splitlines()[-1][:60] in failed[0]
