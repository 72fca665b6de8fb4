"""``na64daq ctl``: drive a running DAQ (start, stop, status, shutdown)."""

from __future__ import annotations

import argparse
import json

from daq.core.cli_arguments import POSITIVE
from daq.core.config_schema import load


def add_arguments(sub) -> None:
    p = sub.add_parser("ctl", help="drive a running DAQ (start, stop, status, shutdown)",
                       description="Send a run-control command to a DAQ started by "
                       "'na64daq run'.")
    p.add_argument("action", choices=("configure", "start", "stop", "status", "shutdown"),
                   help="what the DAQ should do")
    p.add_argument("--config", metavar="FILE", help="DAQ configuration (for its endpoints)")
    p.add_argument("--timeout", type=POSITIVE, default=60.0, help="seconds to wait for an answer")
    p.add_argument("--key", metavar="NAME", help="the key to act as, when run control uses "
                   "CURVE keys (default: security.client_key)")


def run(args: argparse.Namespace) -> int:

    from daq.core.control_protocol import ask
    from daq.processes.daq_config import DaqConfig, client_key

    cfg = load(DaqConfig, args.config)
    answer = ask(cfg.endpoints.control, args.action, args.timeout,
                 curve_keys=client_key(cfg, args.key))
    print(json.dumps(answer, indent=1))
    return 0 if answer.get("ok") else 1
