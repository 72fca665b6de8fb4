"""Entry point of the DAQ's processes, as the supervisor starts them:
``python -m daq.processes.main ROLE NAME CONFIG.json [DETECTOR.toml]``."""

from __future__ import annotations

import faulthandler
import json
import sys

from daq.core.config_schema import load
from daq.core.detector import Detector
from daq.core.process_shell import BindError
from daq.processes.daq_config import DaqConfig


def main(argv: list[str]) -> None:
    faulthandler.enable()  # a crash in a C library leaves its Python stack in the log
    role, name, config_path = argv[:3]
    detector = Detector.load(argv[3] if len(argv) > 3 and argv[3] else None)
    cfg = load(DaqConfig, config_path)
    if role == "builder":
        from daq.processes.builder import main as run
    elif role == "worker":
        from daq.processes.worker import main as run
    elif role == "writer":
        from daq.processes.writer import main as writer_main

        with open(config_path) as fh:
            config_dict = json.load(fh)
        writer_main(cfg, detector, name, config_dict)
        return
    elif role == "tap":
        from daq.processes.tap import main as run
    else:
        raise SystemExit(f"unknown role {role!r}")
    run(cfg, detector, name)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BindError as exc:  # one line in the log, which the supervisor reports
        raise SystemExit(f"{sys.argv[2] if len(sys.argv) > 2 else 'process'}: {exc}") from None
