"""The run-control protocol (REQ/REP, ``docs/run-control.md``): the requests the control
endpoint accepts and their check, and the client that ``na64daq ctl`` and the monitor's buttons
share."""

from __future__ import annotations

import json
from typing import Any

import zmq

from daq.core.config_schema import ConfigError

ClientKey = Any  # (Keyring, client key name, server key name), or None: no CURVE


def ask(endpoint: str, command: str, timeout_s: float = 60.0, curve_keys: ClientKey = None,
        **fields: Any) -> dict[str, Any]:
    """The DAQ's answer to ``command``; :class:`ConfigError` when nobody answers in time.
    ``curve_keys``: (keyring, this client's key name, the server's key name), when run control
    uses CURVE (``docs/security.md``)."""
    from daq.core.link_security import connect_curve

    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        if curve_keys is not None:
            connect_curve(sock, *curve_keys)
        sock.connect(endpoint)
        sock.send(json.dumps(dict(fields, command=command)).encode())
        if not sock.poll(int(timeout_s * 1000)):
            why = (f"is 'na64daq run' running, and key {curve_keys[1]!r} one it knows?"
                   if curve_keys is not None else "is 'na64daq run' running?")
            raise ConfigError(f"no DAQ answers on {endpoint} ({why})")
        return json.loads(sock.recv())
    finally:
        ctx.destroy(linger=0)


class RunControlError(RuntimeError):
    """A command is not allowed in the current state, or could not be carried out."""


#: the requests of the control endpoint
COMMANDS = ("configure", "start", "stop", "status", "shutdown", "logbook", "alarm", "hv")
MAX_COMMAND_BYTES = 4096  # a command is a few words; anything longer is refused unread


def parse_command(parts: list[bytes]) -> str:
    """The command of a control request, or RunControlError naming what is wrong with it:
    one part, at most MAX_COMMAND_BYTES, a JSON object whose ``command`` is one of COMMANDS."""
    if len(parts) != 1:
        raise RunControlError(f"a command is one message part, not {len(parts)}")
    if len(parts[0]) > MAX_COMMAND_BYTES:
        raise RunControlError(f"a command of {len(parts[0])} bytes: at most "
                              f"{MAX_COMMAND_BYTES}")
    try:
        msg = json.loads(parts[0])
    except (ValueError, RecursionError):
        raise RunControlError("not a JSON command") from None
    if not isinstance(msg, dict):
        raise RunControlError("a command is a JSON object {\"command\": ...}")
    command = msg.get("command")
    if command not in COMMANDS:
        raise RunControlError(f"unknown command {command!r}: one of {', '.join(COMMANDS)}")
    return command
