"""``na64daq run``: start a DAQ and serve run-control commands."""

from __future__ import annotations

import argparse

from daq.app.options import common_options, daq_config_from


def add_arguments(sub) -> None:
    p = sub.add_parser("run", help="start a DAQ and serve run-control commands",
                       description="Start the DAQ's processes from a configuration and wait "
                       "for 'na64daq ctl start|stop|status|shutdown' on the control endpoint.")
    common_options(p, daq=True)


def run(args: argparse.Namespace) -> int:
    from daq.processes.control_server import serve

    return serve(daq_config_from(args), args.detector)
