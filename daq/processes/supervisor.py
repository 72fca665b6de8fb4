"""Run control: the state machine and its commands, and what it does when a process dies.

The states and transitions are the table below and ``docs/run-control.md``; nothing else
changes ``Supervisor.state``. The processes themselves are ``process_table.py``, the run's
ledger ``run_ledger.py``, and the control endpoint ``control_server.py``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from daq.core.cli_arguments import name_table
from daq.core.config_schema import to_dict
from daq.core.control_protocol import RunControlError
from daq.core.detector import Detector
from daq.core.ledger import written
from daq.core.link_security import LinkGuard
from daq.core.process_shell import command_topic
from daq.core.run_database import RunDatabase, RunDatabaseError
from daq.processes.daq_config import DaqConfig, source_process
from daq.processes.process_engine import HostUnreachable, SupervisordEngine
from daq.processes.process_table import Process, ProcessTable, last_line
from daq.processes.run_description import describe, emulated_departures
from daq.processes.run_ledger import closed_ledger, unclosed_ledger
from daq.raw.digit_assembly import TRIGGER_BITS_TEXT
from daq.run_file.isolated import isolated
from daq.run_file.layout import RunFileError, file_name, monitor_file_name, truth_file_name

#: (state, event) -> next state. Events are commands or what the supervisor observes.
TRANSITIONS = {
    ("idle", "configure"): "configured",
    ("configured", "start"): "running",
    ("running", "stop"): "stopping",
    ("running", "finished"): "stopping",
    ("running", "fail"): "error",
    ("stopping", "stopped"): "configured",
    ("stopping", "fail"): "error",
    ("configured", "fail"): "error",
    ("error", "stop"): "configured",
    ("configured", "shutdown"): "idle",
    ("error", "shutdown"): "idle",
    ("idle", "shutdown"): "idle",
}
#: Roles whose death ends the run in the error state; the others are restarted.
CRITICAL = ("builder", "writer", "source")
PNG_WAIT_S = 120.0  # demo and shutdown wait this long for the end-of-run PNG's process
RATE_WINDOW_S = 10.0  # the header's events per second: written over this long


@dataclass
class PngJob:
    """The process drawing a run's end-of-run PNG, watched until it ends."""

    run: int
    path: Path
    popen: subprocess.Popen
    log_path: Path


class Supervisor:
    def __init__(self, cfg: DaqConfig, detector_path: str | None = None,
                 db: RunDatabase | None = None, log=print):
        self.cfg = cfg
        self.detector_path = detector_path or ""
        self.detector = Detector.load(detector_path)
        self.db = db or RunDatabase()
        self.log = log
        self.state = "idle"
        self.error: str | None = None
        self.run: int | None = None
        self.ledger: dict[str, Any] | None = None
        self.outcome: str | None = None  # of the last run: stopped or error
        self.restarts: dict[str, int] = {}  # in this run, by role
        self.workdir = cfg.log_directory  # each process's output, configs, run records
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ctx = zmq.Context()
        #: CURVE keys and roles on every link it serves (docs/security.md), when on
        self.guard = LinkGuard.for_section(self.ctx, cfg.security, log) if cfg.curve else None
        self.heartbeats = self._bind(zmq.PULL, "heartbeat")
        self.commands = self._bind(zmq.PUB, "commands")
        #: each host's supervisord starts the processes, which ask here for their arguments
        self.engine = self.launch = None
        if cfg.hosts.engine == "supervisord":
            self.engine = SupervisordEngine(cfg, self.detector.source_ids)
            self.launch = self._bind(zmq.ROUTER, "launch")
        self.procs = ProcessTable(self.workdir, {"NA64DAQ_DB": str(self.db.path)}, self.engine)
        #: by role: why a process could not be restarted (its host's supervisord is gone)
        self.unreachable: dict[str, str] = {}
        self.run_started = 0.0
        self.worker_serial = 0
        self.trigger_enabled = False  # the sources of this run were told to go
        self.trigger_at = 0.0  # monotonic: when they were (a stop is timed from it)
        self._next_share = 0.0  # when the tap next gets the DAQ's state for its viewers
        self.run_started_unix_s: float | None = None
        self.stop_reason: str | None = None  # of the run being stopped (the record says it)
        self.png_jobs: list[PngJob] = []  # end-of-run PNGs being drawn
        self.description = describe(cfg)  # what a run takes, in words
        self.emulated = emulated_departures(cfg)  # its faults and boosts, for the header
        self._written = deque()  # (monotonic s, events written): the header's rate
        self.refused_commands: Counter = Counter()  # "ROLE:NAME command" -> times

    def control_socket(self) -> zmq.Socket:
        """The run-control endpoint's REP socket: with CURVE, every issued key may connect
        and each request's role is checked (``docs/security.md``)."""
        rep = self._bind(zmq.REP, "control", domain="control")
        if self.guard is not None:
            self.log(f"run control on {self.cfg.endpoints.control}: CURVE, "
                     f"{len(self.guard.keyring.roles)} keys ({self.guard.keyring.directory})")
        return rep

    def _bind(self, kind: int, key: str, domain: str = "daq") -> zmq.Socket:
        """A socket of ``kind`` bound to ``endpoints.<key>``; with CURVE, a server of ZAP
        ``domain``, self-tested."""
        endpoint = getattr(self.cfg.endpoints, key)
        sock = self.ctx.socket(kind)
        try:
            if self.guard is None:
                sock.bind(endpoint)
            else:
                self.guard.bind(sock, endpoint, domain)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            if self.guard is not None:
                self.guard.close()
            self.ctx.destroy(linger=0)
            raise RunControlError(f"endpoints.{key} = {endpoint}: cannot bind ({exc}); is "
                                  "another DAQ running?") from None
        return sock

    # -- the state machine -----------------------------------------------------------------
    def _go(self, event: str, reason: str | None = None) -> None:
        nxt = TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise RunControlError(f"'{event}' is not allowed in state '{self.state}'")
        if event == "fail":
            self.error = reason
            self.log(f"error: {reason}")
        self.state = nxt

    # -- processes -------------------------------------------------------------------------
    def _config_file(self, run: int | None = None) -> Path:
        """The DAQ configuration for the components, or the emulator's for a run's sources."""
        values = to_dict(self.cfg)
        if run is not None:
            values = values["emulator"]
            values["run"]["number"] = run
        path = self.workdir / (f"emulator-run{run}.json" if run is not None else "daq.json")
        path.write_text(json.dumps(values))
        return path

    def _spawn_component(self, role: str, name: str) -> Process:
        return self.procs.spawn(role, name, ["-m", "daq.processes.main", role, name,
                                        str(self._config_file()), self.detector_path])

    def _spawn_worker(self) -> Process:
        self.worker_serial += 1
        return self._spawn_component("worker", f"worker-{self.worker_serial}")

    def _spawn_source(self, sid: int | None, config: Path, run: int) -> Process:
        r = self.cfg.run
        name = source_process(sid)
        if r.sources == "replay":
            pace = "0" if self.cfg.emulator.spill.time_compressed else str(
                self.cfg.emulator.spill.pace)
            argv = ["-m", "daq.app.cli", "replay", r.replay_file, "--pace", pace, "--config",
                    str(config), "--repeat", str(r.replay_repeat)]
            if sid is not None:
                argv += ["--source", str(sid)]
            if r.replay_map:
                argv += ["--map", r.replay_map]
            if r.replay_trigger_bits != TRIGGER_BITS_TEXT:
                argv += ["--trigger-bits", r.replay_trigger_bits]
            for theirs, ours in name_table(r.replay_names).items():
                argv += ["--map-name", f"{theirs}={ours}"]
        else:
            argv = ["-m", "daq.app.cli", "emulate", "--source", str(sid), "--config", str(config)]
            if not self.cfg.emulator.spill.time_compressed:
                argv.append("--real-time")
            if sid == self.detector.source_ids[0]:  # one crate records the truth
                argv += ["--truth", str(Path(self.cfg.writer.directory) / truth_file_name(run))]
        if self.detector_path:
            argv += ["--detector", self.detector_path]
        argv += ["--heartbeat", self.cfg.endpoints.heartbeat, "--name", name,
                 "--commands", self.cfg.endpoints.commands]
        if self.cfg.curve_keys:
            argv += ["--keys", self.cfg.curve_keys[0], "--key", self.cfg.curve_keys[1]]
            argv += ["--curve-data"] if self.cfg.data_curve else []
        return self.procs.spawn("source", name, argv)

    def send(self, to: str, cmd: str, **kw: Any) -> None:
        self.commands.send_multipart([command_topic(to),
                                      json.dumps(dict(kw, to=to, cmd=cmd)).encode()])

    def _wait(self, condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll(0.05)
            if condition():
                return True
        return False

    # -- commands --------------------------------------------------------------------------
    def configure(self) -> None:
        if self.state != "idle":
            raise RunControlError(f"'configure' is not allowed in state '{self.state}'")
        Path(self.cfg.writer.directory).mkdir(parents=True, exist_ok=True)
        self._close_abandoned_runs()
        self._go("configure")
        self._ensure_components(self._compile_sources())

    def _close_abandoned_runs(self) -> None:
        """Close the records of runs whose supervisor died on this host, left ``running``:
        their orphaned processes ended the run and closed its file with its ledger, which
        the record then takes (read in a child, ``isolated``)."""
        for rec in self.db.runs_since(time.time()):  # the open ones
            keeper = rec["summary"].get("supervisor") or {}
            if rec["state"] not in ("running", "stopping") or \
                    keeper.get("host") != socket.gethostname() or _alive(keeper.get("pid")):
                continue
            path = Path(self.cfg.writer.directory) / file_name(rec["run"])
            try:
                end = isolated(_run_end, str(path), timeout_s=60.0)
            except (RunFileError, OSError) as exc:
                end, why = None, f"its file is unreadable ({exc})"
            else:
                why = "its file was left open: na64daq recover" if end is None else \
                    "its processes ended the run and closed the file"
            ledger = end.get("ledger") if isinstance(end, dict) else None
            self.db.close_run(rec["run"], "error", ledger, f"its supervisor died; {why}")
            self.db.add_summary(rec["run"], stop_reason="the supervisor died")
            self.log(f"run {rec['run']} closed: its supervisor died; {why}")

    def reconfigure(self) -> None:
        """The ``configure`` command: from idle, configure; when configured or in error, make
        sure every component runs again (the ones that died are started anew)."""
        if self.state == "idle":
            self.configure()
        elif self.state == "error":
            self.stop()
        elif self.state == "configured":
            self._ensure_components()
        else:
            raise RunControlError(f"'configure' is not allowed in state '{self.state}'")

    def _ensure_components(self, compiling: subprocess.Popen | None = None) -> None:
        """Start every component that is not running (all at configure; after an error, the
        ones that died), and wait for their first heartbeat (and for ``compiling``, the
        sources' compilation that configure starts, to end)."""
        for proc in self.procs.all():
            if proc.role != "source" and not proc.running():
                self.procs.remove(proc, self.cfg.run.kill_after_s)
        for role in ("writer", "builder", "tap"):
            if role not in self.procs:
                self._spawn_component(role, role)
        for _ in range(self.cfg.workers.count - len(self.procs.role("worker"))):
            self._spawn_worker()
        ok = self._wait(lambda: all(p.last_beat for p in self.procs.all())
                        and (compiling is None or compiling.poll() is not None)
                        or self.state == "error", self.cfg.run.startup_s)  # died: error already
        if not ok:
            silent = [p.name for p in self.procs.all() if not p.last_beat]
            if silent:
                self._go("fail", f"no heartbeat from {', '.join(silent)} after start-up")
            else:  # the sources will compile when they start: slower, not wrong
                self.log("the emulator's kernels did not compile within "
                         f"{self.cfg.run.startup_s:g} s of configure")
        if compiling is not None and compiling.poll() is None:
            compiling.kill()

    def _compile_sources(self) -> subprocess.Popen | None:
        """Compile the emulated crates' kernels into numba's cache now, beside the components
        (the sources start with the run: on a fresh install, the first run's events were 20 s
        late)."""
        if self.cfg.run.sources != "emulator" or self.engine is not None:
            return None  # another host's crates compile there, at their start
        argv = [sys.executable, "-m", "daq.app.cli", "emulate", "--compile-only", "--config",
                str(self._config_file(0))]
        if self.detector_path:
            argv += ["--detector", self.detector_path]
        log = self.workdir / "compile-sources.log"
        with open(log, "ab") as out:
            return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=self.procs.child_env())

    def start(self) -> int:
        if self.state != "configured":
            raise RunControlError(f"'start' is not allowed in state '{self.state}'")
        writer = self.procs.get("writer")
        problem = writer.counters.get("directory_problem") if writer else None
        if problem:  # the writer's word (it may run on another host), at most a second old
            raise RunControlError(f"start refused: the run's file cannot be written: {problem}")
        self.run = self.db.new_run(to_dict(self.cfg))
        # who keeps the record: if it dies, the next supervisor closes it
        self.db.add_summary(self.run, supervisor={"host": socket.gethostname(),
                                                  "pid": os.getpid()})
        self.ledger = None
        self.error = None
        self.restarts = {}
        self.unreachable = {}
        config = self._config_file(self.run)
        record = {k: v for k, v in (self.db.run(self.run) or {}).items() if k != "config"}
        self.cfg.run_record_path(self.run).write_text(json.dumps(record))  # for the run file
        self.send("all", "run", run=self.run)  # the one run the builder and writer accept
        if self.cfg.run.sources != "external":
            for sid in self.cfg.readouts(self.detector.source_ids):
                self._spawn_source(sid, config, self.run)
        self.run_started = time.monotonic()
        self.run_started_unix_s = time.time()
        self.stop_reason = None
        self._written.clear()
        self.trigger_enabled = self.cfg.run.sources == "external"
        self._go("start")
        self.log(f"run {self.run} started")
        self._logbook(f"run {self.run} started: {self.description}")
        return self.run

    def stop(self, reason: str = "ctl stop") -> None:
        """Always succeeds: what does not stop in time is killed. ``reason`` goes into the
        run record (``summary.stop_reason``)."""
        if self.state == "running" and self.stop_reason is None:
            self.stop_reason = reason
        if self.state == "error":
            now = self.procs.watching()
            for p in self.procs.all():  # a hung process is killed, then replaced
                if p.role != "source" and p.running() and p.last_beat and \
                        now - p.last_beat > self.cfg.run.dead_after_s:
                    self.procs.kill(p, self.cfg.run.kill_hung_after_s)
            writer = self.procs.get("writer")
            if self.run is not None and writer and writer.running():
                self._stop_sources(at_once=True)
                self.send("builder", "drain", run=self.run)  # close the file with what was taken
                if self._writer_done(min(self.cfg.run.sources_end_s, self.cfg.run.stop_timeout_s)):
                    self._teardown_run("error")  # its closed ledger replaces the first record
            self._go("stop")
            self._ensure_components()
            return
        if self.state != "running":
            raise RunControlError(f"'stop' is not allowed in state '{self.state}'")
        self._go("stop")
        self._stop_sources()
        self._finish_run()

    def _enable_trigger(self, sources: list[Process]) -> None:
        """Every source is ready: all start now, together, on one spill clock."""
        self.trigger_enabled = True
        self.trigger_at = time.monotonic()  # before the first crate can start
        for p in sources:
            if p.running():
                p.popen.send_signal(signal.SIGUSR1)

    def _stop_sources(self, at_once: bool = False) -> None:
        """Ask every source to end its spill and run (SIGTERM), then exit; the builder is
        told, so that a crate waiting for the others at a spill's end is not given up. At
        the beam's pace every crate ends on the trigger run control names: the stop's time
        in the run (``end_after_s``), taken once all have been signalled, so that none has
        read out a later one (docs/run-control.md). ``at_once`` (a run in error, torn down):
        a time-compressed crate ends with the spill it is in rather than hold at its end for
        the others (``end_after_spill`` -1)."""
        if self.run is not None:
            self.send("builder", "stopping", run=self.run)
        if at_once:
            self.send("source", "end_after_spill", spill=-1)
        sources = self.procs.role("source")
        for p in sources:
            p.asked_to_stop = True
            if p.running():
                p.popen.send_signal(signal.SIGTERM)
        if sources:
            self.send("source", "end_after_s", s=time.monotonic() - self.trigger_at
                      if self.trigger_enabled else -1.0)

    def _end_with_one_spill(self) -> None:
        """Time-compressed, the stopped crates end at a spill's end, each saying which
        (``held_after_spill``): once every running crate has, all are told to end with the
        latest, so that none is cut (``docs/run-control.md``)."""
        sources = self.procs.role("source")
        if self.cfg.run.sources == "external" or not self.cfg.emulator.spill.time_compressed:
            return
        if self._wait(lambda: all(not p.running() or "held_after_spill" in p.counters
                                  for p in sources), self.cfg.run.sources_end_s):
            held = [p.counters["held_after_spill"] for p in sources
                    if p.running() and "held_after_spill" in p.counters]
            if held:
                self.send("source", "end_after_spill", spill=max(held))

    def _finish_run(self) -> None:
        t = self.cfg.run.stop_timeout_s
        self._end_with_one_spill()
        self._wait(lambda: not any(p.running() for p in self.procs.role("source")),
                   min(self.cfg.run.sources_end_s, t))
        if self.state == "error":
            return
        if not self._writer_done(self.cfg.run.drain_after_s):  # a source never ended its run:
            self.send("builder", "drain", run=self.run)  # close it anyway
        if not self._writer_done(t) and self.state != "error":
            self._go("fail", f"the writer did not close run {self.run} within {t:g} s")
            self._teardown_run("error")
            return
        if self.state == "error":
            return
        self._teardown_run("stopped")
        self._go("stopped")

    def _end_failed_run(self) -> None:
        """The writer can no longer write (disk full, ...) but is alive: end the run so that
        it closes the ledger, counting what it could not write."""
        self._stop_sources(at_once=True)
        if not self._writer_done(self.cfg.run.failed_run_close_s):
            self.send("builder", "drain", run=self.run)
            self._writer_done(self.cfg.run.failed_run_close_s)
        self._teardown_run("error")

    def _writer_done(self, timeout_s: float) -> bool:
        writer = self.procs.get("writer")
        return writer is not None and self._wait(
            lambda: writer.counters.get("run_done") == self.run, timeout_s)

    def _teardown_run(self, outcome: str) -> None:
        sources = self.procs.role("source")
        if any(p.running() for p in sources):  # their last counts, then gone
            self._stop_sources(at_once=True)
            self._wait(lambda: not any(p.running() for p in sources),
                       self.cfg.run.last_counts_s)
        for p in sources:
            self.procs.remove(p, self.cfg.run.kill_after_s)
        self._close_without_builder(sources)
        asked = time.monotonic()  # every stage's final counters, for the ledger
        self.send("all", "beat")
        self._wait(lambda: all(p.last_beat > asked for p in self.procs.all() if p.running()),
                   2 * self.cfg.run.heartbeat_s)
        self._save_monitor()
        ledger = closed_ledger(self.run, sources, self.procs, self.restarts)
        self.ledger = ledger
        self.outcome = outcome
        if self.run is not None:
            self.db.close_run(self.run, outcome, ledger, self.error)
            self._close_record(outcome, ledger, self.procs.get("tap"))
        self.log(f"run {self.run} {outcome}")

    def _close_without_builder(self, sources: list[Process]) -> None:
        """The builder died (or hangs) with the run open: no end of run will reach the writer. It is
        told to write what reached it and close the file with the ledger of the crates'
        counts, so that the file says what was lost rather than stay open."""
        builder, writer = self.procs.get("builder"), self.procs.get("writer")
        answering = builder is not None and builder.running() and \
            self.procs.watching() - builder.last_beat <= self.cfg.run.dead_after_s  # not frozen
        if self.run is None or writer is None or not writer.running() or answering or \
                writer.counters.get("run_done") == self.run:
            return
        ledger = unclosed_ledger(sources, None, builder)
        ledger["stages"] = {"sources": ledger["stages"]["sources"]}
        self.send("writer", "close_run", run=self.run, ledger=ledger,
                  reason=self.error or "the builder is gone")
        self._writer_done(2 * self.cfg.run.heartbeat_s + 1.0)

    def _close_record(self, outcome: str, ledger: dict[str, Any], tap: Process | None) -> None:
        """The run's summary (why it ended, the monitor's figures and the alarms not cleared
        at its end), the record's JSON file rewritten closed, and the logbook's entry."""
        reason = self.stop_reason or (self.error if outcome == "error" else None) or outcome
        if outcome == "error" and self.error and reason != self.error:
            reason = f"{reason}; error: {self.error}"
        monitor = (tap.counters.get("run_summary") if tap else None) or {}
        if monitor.get("run") != self.run:
            monitor = {}
        fields = {k: monitor.get(k) for k in ("spills", "eot", "eot_error", "alarms",
                                              "major_alarms_not_cleared") if k in monitor}
        self.db.add_summary(self.run, stop_reason=reason, **fields)
        record = {k: v for k, v in (self.db.run(self.run) or {}).items() if k != "config"}
        self.cfg.run_record_path(self.run).write_text(json.dumps(record))
        text = (f"run {self.run} {outcome} ({reason}): "
                + (f"{monitor['spills']} spill{'' if monitor['spills'] == 1 else 's'}, "
                   if monitor.get("spills") is not None else "")
                + f"{_count(written(ledger))} of {_count(ledger.get('triggered'))} events "
                "written, "
                + ("balanced" if ledger.get("balanced") else "NOT balanced")
                + (f", EOT {monitor['eot']:.3g}" if monitor.get("eot") else "")
                + (f"; major alarms not cleared: {', '.join(fields['major_alarms_not_cleared'])}"
                   if fields.get("major_alarms_not_cleared") else ""))
        self._logbook(text)

    def _logbook(self, text: str) -> None:
        """A run-control entry in the logbook (kind ``run``); a logbook that cannot be
        written is said, never fatal."""
        from daq.conditions import Conditions, ConditionsError

        try:
            Conditions(self.db, self.detector).add_note(text[:1900], "run", "run control",
                                                        self.run)
        except (ConditionsError, RunDatabaseError) as exc:
            self.log(f"the logbook could not be written: {exc}")

    def _save_monitor(self) -> None:
        """The tap's histograms of the run beside its run file, and (``tap.end_of_run_png``)
        a PNG of every panel drawn from them by a process of its own (``docs/monitor.md``)."""
        tap = self.procs.get("tap")
        if tap is None or self.run is None or not tap.running():
            return
        path = (Path(self.cfg.writer.directory) / monitor_file_name(self.run)).resolve()
        self._next_share = 0.0
        self._share_state()  # the last spill's ledger with them
        self.send("tap", "save", run=self.run, path=str(path))
        if not self._wait(lambda: tap.counters.get("saved_run") == self.run,
                          self.cfg.run.monitor_save_s) or \
                tap.counters.get("saved") != str(path):
            self.log(f"run {self.run}: the monitor's histograms were not saved "
                     f"({tap.counters.get('saved') or 'the tap did not answer'})")
            return
        if self.cfg.tap.end_of_run_png:
            log_path = self.workdir / f"monitor-png-run{self.run}.log"
            png = path.with_suffix(".png")
            with open(log_path, "ab") as log:
                popen = subprocess.Popen(
                    [sys.executable, "-m", "daq.app.cli", "monitor", "--file", str(path),
                     "--snapshot", str(png)], stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
            self.png_jobs.append(PngJob(self.run, png, popen, log_path))
            self.db.add_summary(self.run, monitor_png={"path": str(png), "state": "drawing"})

    def _check_png(self) -> None:
        """End-of-run PNGs whose process has ended: said, and in their run's record."""
        for job in [j for j in self.png_jobs if j.popen.poll() is not None]:
            self.png_jobs.remove(job)
            ok = job.popen.returncode == 0 and job.path.exists()
            error = None if ok else (last_line(job.log_path) or
                                     f"exit code {job.popen.returncode}")
            self.db.add_summary(job.run, monitor_png={"path": str(job.path), "state": (
                "written" if ok else "failed"), "error": error})
            self.log(f"run {job.run}: monitor PNG written: {job.path}" if ok else
                     f"run {job.run}: monitor PNG failed: {error} (log {job.log_path})")

    def wait_for_png(self, timeout_s: float) -> None:
        """Until the end-of-run PNGs are drawn (those not drawn within ``timeout_s`` are
        stopped, and recorded as failed)."""
        deadline = time.monotonic() + timeout_s
        for job in self.png_jobs:
            try:
                job.popen.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                os.killpg(job.popen.pid, signal.SIGKILL)
                job.popen.wait()
                with open(job.log_path, "a") as log:
                    log.write(f"\nnot drawn within {timeout_s:g} s: stopped\n")
        self._check_png()

    def shutdown(self, reason: str = "shutdown") -> None:
        if self.state == "running":
            self.stop(reason)
        self.send("all", "exit")
        self.procs.remove_all(self.cfg.run.kill_at_shutdown_s)
        self._go("shutdown")

    def close(self) -> None:
        if self.state != "idle":
            self.shutdown()
        self.wait_for_png(PNG_WAIT_S)
        if self.guard is not None:
            self.guard.close()
        self.ctx.destroy(linger=0)

    def refused_connections(self) -> dict[str, int]:
        """Keys refused at the handshake ("KEY from ADDRESS" or "ROLE:NAME from ADDRESS": times), by
        run control and by every process that serves a link."""
        total = Counter(self.guard.refused if self.guard else {})
        for p in self.procs.all():
            seen = p.counters.get("refused_connections")
            if isinstance(seen, dict):
                total.update({str(k): v for k, v in seen.items() if isinstance(v, int)})
        return dict(total)

    def refuse(self, who: str, command: str, peer: str) -> str:
        """A command ``who`` (``ROLE:NAME``) may not give: counted, logged, and the answer."""
        self.refused_commands[f"{who} {command}"] += 1
        self.log(f"refused '{command}' from {who} at {peer or '?'}: needs the operator role")
        return f"'{command}' needs the operator role (this key: {who})"

    def _answer_launches(self) -> None:
        """A process its host's supervisord started asks for its arguments, files and
        environment (``daq.processes.launched``); each spec is given once."""
        while self.launch is not None and self.launch.poll(0):
            parts = self.launch.recv_multipart()
            if len(parts) != 3:
                continue  # not a REQ's request: nobody to answer
            ident, _, raw = parts
            try:
                program = json.loads(raw)["program"]
                spec = self.engine.launch_spec(str(program))
            except (ValueError, KeyError, TypeError):
                program, spec = "?", None
            answer = {"ok": True, "spec": spec} if spec else {
                "ok": False, "error": f"no process of this DAQ is starting as {program!r}"}
            self.launch.send_multipart([ident, b"", json.dumps(answer).encode()])

    # -- watching --------------------------------------------------------------------------
    def poll(self, timeout_s: float = 0.1) -> None:
        """Take heartbeats, notice dead processes, notice the end of the run."""
        self.procs.take_heartbeats(self.heartbeats, timeout_s)
        self._answer_launches()
        self._share_state()
        self._check_png()
        if self.state not in ("running", "configured", "stopping"):
            return
        writer = self.procs.get("writer")
        if self.state == "running" and writer is not None and writer.counters.get("failed"):
            # before the liveness check: a writer that failed may already have closed the run
            # and exited, and its own reason is the one to give
            self._go("fail", f"writer: {writer.counters['failed']}")
            self._end_failed_run()
            return
        now = self.procs.watching()
        for proc in self.procs.all():
            if proc.alive(now, self.cfg.run.dead_after_s, self.cfg.run.startup_s):
                continue
            code = proc.popen.poll()
            if proc.role == "source" and (code == 0 or proc.asked_to_stop and code in (
                    -signal.SIGTERM, 128 + signal.SIGTERM)):
                continue  # finished its spills, or stopped as asked (in its start-up)
            if proc.role == "source" and code is None and self.state == "stopping":
                continue  # ending its run (its last files): its exit decides, or the teardown
            why = (f"{proc.name} exited with code {code}{proc.cause()}" if code is not None else
                   f"{proc.name} never answered in its {self.cfg.run.startup_s:g} s start-up"
                   f"{proc.cause()}" if proc.last_beat == 0.0 else
                   f"{proc.name} stopped answering (no heartbeat for "
                   f"{now - proc.last_beat:.1f} s){_stuck(self.procs.stuck_at(proc))}")
            if proc.role in CRITICAL:
                if self.state in ("running", "configured", "stopping"):
                    self._go("fail", why)
                    if self.run is not None and self.state == "error":
                        self._teardown_run("error")
                return
            self.log(f"{why}: restarting it")
            self.procs.remove(proc, self.cfg.run.kill_hung_after_s)
            self.restarts[proc.role] = self.restarts.get(proc.role, 0) + 1
            if proc.role == "worker":
                self.send("builder", "worker_dead", worker=proc.name)
            try:
                self._spawn_worker() if proc.role == "worker" else \
                    self._spawn_component(proc.role, proc.name)
            except HostUnreachable as exc:  # its host is gone: the others carry on
                self.log(f"cannot restart {proc.name}: {exc}")
                self.unreachable[proc.role] = str(exc)
                if not self.procs.role(proc.role) and self.state in ("running", "configured"):
                    self._go("fail", f"no {proc.role} left: {exc}")
                    if self.run is not None:
                        self._teardown_run("error")
                    return
        if self.state == "running":
            sources = self.procs.role("source")
            if not self.trigger_enabled and sources and all(
                    p.counters.get("ready") for p in sources):
                self._enable_trigger(sources)
            closed = writer is not None and writer.counters.get("run_done") == self.run
            if (sources and all(p.popen.poll() == 0 for p in sources)) or closed:
                self.stop_reason = self.stop_reason or "end of spills"
                self._go("finished")
                self._finish_run()

    def add_note(self, request: dict[str, Any]) -> int:
        """A monitor's logbook note from another machine (``logbook`` request: text, kind,
        author, run), written by the same code as ``na64daq calib note``."""
        from daq.conditions import Conditions, ConditionsError

        try:
            return Conditions(self.db, self.detector).add_note(
                request.get("text"), request.get("kind"), request.get("author"),
                request.get("run"))
        except ConditionsError as exc:
            raise RunControlError(str(exc)) from None

    def set_hv(self, request: dict[str, Any]) -> int:
        """New HV set points from an operator (``hv`` request: ``hv`` {channel: volts},
        ``author``, ``reason``, ``first_run``, default the next run), written as the calibration
        scripts write them: a new ``hv_v`` version with its logbook entry, refused whole when
        any value is outside its channel's limits. Returns the version's id."""
        from calib.conditions import ConditionsWriter
        from daq.conditions import ConditionsError, LogEntry

        hv, author, reason = request.get("hv"), request.get("author"), request.get("reason")
        first_run = request.get("first_run", self.db.next_run())
        if not isinstance(hv, dict) or not hv or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in hv.values()):
            raise RunControlError("'hv' needs hv = {channel: volts, ...}")
        if not isinstance(author, str) or not author.strip() or not isinstance(reason, str) \
                or not reason.strip():
            raise RunControlError("'hv' needs an author and a reason (the logbook says who and "
                                  "why)")
        if not isinstance(first_run, int) or isinstance(first_run, bool):
            raise RunControlError(f"'hv' first_run = {first_run!r}: a run number")
        text = f"HV set through run control: {reason.strip()}"
        try:
            return ConditionsWriter(self.db, self.detector).write(
                "hv_v", hv, first_run, author=author.strip(), comment=reason.strip(),
                entry=LogEntry(text, author.strip(), first_run,
                               values=[(ch, "hv_new_v", float(v)) for ch, v in hv.items()]))
        except ConditionsError as exc:
            raise RunControlError(f"hv refused: {exc}") from None

    def alarm(self, request: dict[str, Any]) -> None:
        """An alarm command from a monitor (``alarm`` request: acknowledge, shelve,
        unshelve), checked here and handled by the tap, where the alarms are."""
        from monitor.alarm_handler import AlarmCommandError, check_command

        try:
            check_command(request)
        except AlarmCommandError as exc:
            raise RunControlError(str(exc)) from None
        if "tap" not in self.procs:
            raise RunControlError("no monitor tap running: no alarms to handle")
        self.send("tap", "alarm", request={k: request.get(k) for k in (
            "action", "name", "author", "minutes", "reason")})

    def _share_state(self) -> None:
        """Once a second, the DAQ's state to the tap, whose snapshots carry it to the
        monitor's viewers (``docs/monitor.md``)."""
        now = time.monotonic()
        if now < self._next_share or "tap" not in self.procs:
            return
        self._next_share = now + 1.0
        writer = self.procs.get("writer")
        events = (writer.counters.get("written_events") if writer else None) or 0
        self._written.append((now, events))
        while now - self._written[0][0] > RATE_WINDOW_S:
            self._written.popleft()
        t0, w0 = self._written[0]
        self.send("tap", "daq_state", state={
            "state": self.state, "run": self.run, "error": self.error,
            "processes": self.procs.rows(now), "restarts": dict(self.restarts),
            "spill_ledger": writer.counters.get("spill_ledger") if writer else None,
            "ledger": self.ledger if self.state in ("idle", "configured") else None,
            "run_started_unix_s": self.run_started_unix_s,
            "rate_hz": (events - w0) / (now - t0) if now > t0 and self.state == "running"
            else None,
            "disk_free_bytes": _free_bytes(self.cfg.writer.directory),
            "next_run": self.db.next_run(), "description": self.description,
            "emulated": self.emulated})

    def status(self) -> dict[str, Any]:
        writer = self.procs.get("writer")
        tap = self.procs.get("tap")
        wc = writer.counters if writer else {}
        spill = (wc.get("spill_ledger") or {}).get("spill")
        return {"state": self.state, "run": self.run, "error": self.error,
                "outcome": self.outcome,
                "written_events": wc.get("written_events"),
                "written_bytes": wc.get("written_bytes"), "last_spill": spill,
                "elapsed_s": time.monotonic() - self.run_started if self.run_started else None,
                "latency_p99_s": (tap.counters.get("latency_p99_s") if tap else None),
                # started but not yet answering (imports, and the JIT on a cold cache)
                "starting": sorted(p.name for p in self.procs.all()
                                   if (p.last_beat == 0.0 or p.counters.get("starting"))
                                   and p.running()),
                "bad_heartbeats": dict(self.procs.bad_heartbeats),
                "not_restarted": dict(self.unreachable),
                "refused": {"connections": self.refused_connections(),
                            "commands": dict(self.refused_commands)},
                "processes": {p.name: {"pid": p.popen.pid, "alive": p.running()}
                              for p in self.procs.all()},
                "ledger": self.ledger}


def _stuck(where: str) -> str:
    return f"; stuck in {where}" if where else ""


def _alive(pid: Any) -> bool:
    if type(pid) is not int or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _run_end(path: str) -> dict[str, Any] | None:
    """The run end the file records (None: it was left open)."""
    from daq.run_file.reader import RunReader

    with RunReader(path) as f:
        return f.run_end()


def _free_bytes(directory: str | Path) -> int | None:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None


def _count(n: Any) -> str:
    return "?" if n is None else f"{int(n):,}"
