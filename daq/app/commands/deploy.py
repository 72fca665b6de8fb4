"""``na64daq deploy``: each host's supervisord configuration, from the DAQ's
(``docs/deployment.md``)."""

from __future__ import annotations

import argparse

from daq.app.options import common_options


def add_arguments(sub) -> None:
    p = sub.add_parser("deploy", help="write each host's supervisord configuration",
                       description="Write OUT/HOST/supervisord.conf for every host the "
                       "configuration's [hosts] names: one program per process placed there, "
                       "never started or restarted by supervisord itself, and its XML-RPC "
                       "interface on a 0700 unix socket or behind a password.")
    common_options(p, daq=True)
    p.add_argument("--out", required=True, metavar="DIR", help="where the hosts' "
                   "configurations go (DIR/HOST/supervisord.conf)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from daq.app.options import daq_config_from
    from daq.core.detector import Detector
    from daq.processes.deployment import deploy

    cfg = daq_config_from(args)
    detector = Detector.load(args.detector)
    for host, conf in deploy(cfg, detector.source_ids, Path(args.out)).items():
        print(f"{host}: {conf} (start it there: supervisord -c {conf})")
    if cfg.hosts.engine != "supervisord":
        print("note: hosts.engine is 'local': set it to 'supervisord' for 'na64daq run' to "
              "start the processes through these")
    return 0
