"""``na64daq ctl``: drive a running DAQ (start, stop, status, shutdown), and set HVs."""

from __future__ import annotations

import argparse
import json

from daq.core.cli_arguments import POSITIVE, RUN
from daq.core.config_schema import ConfigError, load


def add_arguments(sub) -> None:
    p = sub.add_parser("ctl", help="drive a running DAQ (start, stop, status, shutdown)",
                       description="Send a run-control command to a DAQ started by "
                       "'na64daq run'.")
    p.add_argument("action", choices=("configure", "start", "stop", "status", "shutdown", "hv"),
                   help="what the DAQ should do (hv: new HV set points, written with their "
                   "logbook entry; an operator's, within each channel's limits)")
    p.add_argument("values", nargs="*", metavar="CHANNEL=VOLTS", help="for hv: the set points")
    p.add_argument("--author", help="for hv: who sets them")
    p.add_argument("--reason", help="for hv: why (the logbook entry)")
    p.add_argument("--first-run", type=RUN, help="for hv: the first run they are for "
                   "(default: the next run)")
    p.add_argument("--config", metavar="FILE", help="DAQ configuration (for its endpoints)")
    p.add_argument("--timeout", type=POSITIVE, default=60.0, help="seconds to wait for an answer")
    p.add_argument("--key", metavar="NAME", help="the key to act as, when run control uses "
                   "CURVE keys (default: security.client_key)")


def run(args: argparse.Namespace) -> int:

    from daq.core.control_protocol import ask
    from daq.processes.daq_config import DaqConfig, client_key

    cfg = load(DaqConfig, args.config)
    fields = hv_request(args) if args.action == "hv" else {}
    if args.action != "hv" and (args.values or args.author or args.reason or args.first_run):
        raise ConfigError(f"ctl {args.action}: CHANNEL=VOLTS, --author, --reason and "
                          "--first-run are for 'ctl hv'")
    answer = ask(cfg.endpoints.control, args.action, args.timeout,
                 curve_keys=client_key(cfg, args.key), **fields)
    print(json.dumps(answer, indent=1))
    return 0 if answer.get("ok") else 1


def hv_request(args: argparse.Namespace) -> dict:
    """The ``hv`` request's fields from ``ctl hv CHANNEL=VOLTS ... --author A --reason R``."""
    hv = {}
    for item in args.values:
        channel, sep, volts = item.partition("=")
        try:
            hv[channel.strip()] = float(volts)
        except ValueError:
            sep = ""
        if not sep or not channel.strip():
            raise ConfigError(f"ctl hv {item!r}: expected CHANNEL=VOLTS, e.g. ECAL0-1-1=1250")
    if not hv or not args.author or not args.reason:
        raise ConfigError("ctl hv: CHANNEL=VOLTS ..., --author and --reason are required")
    fields = {"hv": hv, "author": args.author, "reason": args.reason}
    if args.first_run is not None:
        fields["first_run"] = args.first_run
    return fields
