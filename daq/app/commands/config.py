"""``na64daq config``: list every configuration key."""

from __future__ import annotations

import argparse

from daq.core.config_schema import describe


def add_arguments(sub) -> None:
    p = sub.add_parser("config", help="list every configuration key",
                       description="Every configuration key with its default, unit, allowed "
                       "range and meaning: the emulator's, or with --daq the whole DAQ's.")
    p.add_argument("--daq", action="store_true", help="the DAQ configuration (na64daq run)")
    p.add_argument("--reco", action="store_true", help="the reconstruction's configuration")
    p.add_argument("--calib", action="store_true", help="the calibration scripts' defaults")


def run(args: argparse.Namespace) -> int:
    from calib.calib_config import CalibConfig
    from daq.processes.daq_config import DaqConfig
    from daq.reco.reco_config import RecoConfig
    from emulator.config import EmulatorConfig

    cls = (DaqConfig if args.daq else RecoConfig if args.reco else CalibConfig if args.calib
           else EmulatorConfig)
    for key, default, unit, allowed, doc in describe(cls):
        unit = f" [{unit}]" if unit else ""
        print(f"{key} = {default}{unit}\n    {doc}; {allowed}")
    return 0
