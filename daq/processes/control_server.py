"""``na64daq run``: the supervisor behind the control endpoint, answering run-control requests
(``daq/core/control_protocol.py``) until shutdown."""

from __future__ import annotations

import json

import zmq

from daq.core.control_protocol import RunControlError, parse_command
from daq.core.link_security import allowed, role_of
from daq.processes.daq_config import DaqConfig
from daq.processes.supervisor import Supervisor


def serve(cfg: DaqConfig, detector_path: str | None = None) -> int:
    """``na64daq run``: configure, then answer run-control commands until ``shutdown`` (or
    SIGINT/SIGTERM/SIGHUP, or its output lost: the run is stopped, then the DAQ shut
    down)."""
    from daq.app.terminal import Output, StopSignals, stop_reason

    signals, output = StopSignals(), Output()
    sup = Supervisor(cfg, detector_path, log=lambda m: print(m, flush=True))
    try:
        rep = sup.control_socket()
        sup.configure()
        print(f"DAQ {sup.state}; commands on {cfg.endpoints.control}", flush=True)
        while sup.state != "idle":
            if (why := stop_reason(signals, output)) is not None:
                print(f"{why}: stopping and shutting down", flush=True)
                sup.shutdown(why)
                break
            sup.poll(0.05)
            if not rep.poll(0):
                continue
            frames = rep.recv_multipart(copy=False)
            parts = [f.bytes for f in frames]
            role, name = role_of(frames[0])
            extra = {}  # what a command adds to the answer
            try:
                command = parse_command(parts)
                if not allowed(role, command):
                    raise RunControlError(sup.refuse(f"{role}:{name}", command,
                                                     _peer(frames[0])))
                if command == "configure":
                    sup.reconfigure()
                elif command == "start":
                    sup.start()
                elif command == "stop":
                    sup.stop("ctl stop")
                elif command == "shutdown":
                    sup.shutdown()
                elif command == "logbook":
                    sup.add_note(json.loads(parts[0]))
                elif command == "alarm":
                    sup.alarm(json.loads(parts[0]))
                elif command == "hv":
                    extra["hv_version"] = sup.set_hv(json.loads(parts[0]))
                refused = None
            except RunControlError as exc:
                refused = str(exc)
            answer = dict(sup.status(), ok=refused is None, **extra)
            if refused:
                answer["error"] = refused
            rep.send(json.dumps(answer).encode())
    finally:
        sup.close()
        signals.restore()
        output.restore()
    return 0


def _peer(frame: zmq.Frame) -> str:
    try:
        return frame.get("Peer-Address")
    except zmq.ZMQError:
        return ""
