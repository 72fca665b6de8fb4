"""Asking a running DAQ's control endpoint (REQ/REP, ``docs/run-control.md``): what
``na64daq ctl`` and the monitor's buttons share."""

from __future__ import annotations

import json
from typing import Any

import zmq

from daq.core.config_schema import ConfigError


def ask(endpoint: str, command: str, timeout_s: float = 60.0, **fields: Any) -> dict[str, Any]:
    """The DAQ's answer to ``command``; :class:`ConfigError` when nobody answers in time."""
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        sock.send(json.dumps(dict(fields, command=command)).encode())
        if not sock.poll(int(timeout_s * 1000)):
            raise ConfigError(f"no DAQ answers on {endpoint} (is 'na64daq run' running?)")
        return json.loads(sock.recv())
    finally:
        ctx.destroy(linger=0)
