"""Heartbeats: what every DAQ process tells the supervisor each second, and the supervisor's
check of it (``docs/run-control.md``, Heartbeats). A heartbeat moves run control (a process
that stops beating is dead; a writer that says it failed ends the run), so it is trusted only
when it is well formed, names a process the supervisor started, and carries the token the
supervisor gave that process at its start: anything else on the heartbeat endpoint is counted
and ignored."""

from __future__ import annotations

import json
import os
import time
from typing import Any

#: the environment variable through which the supervisor hands each process its token
TOKEN_ENV = "NA64DAQ_HEARTBEAT_TOKEN"
#: a heartbeat larger than this is not read (a writer's, with its ledger, is a few kB)
MAX_BYTES = 1 << 20


def message(name: str, counters: dict[str, Any]) -> bytes:
    """This process's heartbeat, with the token its supervisor gave it."""
    return json.dumps({"name": name, "pid": os.getpid(), "time": time.time(),
                       "token": os.environ.get(TOKEN_ENV, ""), "counters": counters}).encode()


class HeartbeatError(ValueError):
    """A heartbeat that is not to be acted on; the message is the reason, for counting."""


def parse(raw: bytes, tokens: dict[str, str]) -> dict[str, Any]:
    """A heartbeat checked against ``tokens`` (process name -> its token), or HeartbeatError
    with a short reason: ``too large``, ``not JSON``, ``schema``, ``unknown process``, ``token``."""
    if len(raw) > MAX_BYTES:
        raise HeartbeatError("too large")
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError):
        raise HeartbeatError("not JSON") from None
    if not (isinstance(msg, dict) and isinstance(msg.get("name"), str)
            and isinstance(msg.get("pid"), int) and isinstance(msg.get("token"), str)
            and isinstance(msg.get("counters"), dict)):
        raise HeartbeatError("schema")
    expected = tokens.get(msg["name"])
    if expected is None:
        raise HeartbeatError("unknown process")
    if msg["token"] != expected:
        raise HeartbeatError("token")
    return msg
