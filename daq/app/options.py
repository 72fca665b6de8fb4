"""The options several commands share, and how they become configurations: ``--config``,
``--detector`` and ``--set`` of the emulator or of the whole DAQ, the emulator's shortcuts
(``--spills``, ``--intensity``, ...) and a source's run-control options."""

from __future__ import annotations

import argparse
from typing import Any

from daq.core.cli_arguments import COUNT, RUN, argument_type, number
from daq.core.config_schema import ConfigError, load
from daq.core.detector import Detector
from daq.raw.digit_assembly import TRIGGER_BITS_TEXT, parse_trigger_bits


def common_options(p: argparse.ArgumentParser, daq: bool = False) -> None:
    """--config, --detector and --set, for the emulator's configuration or the whole DAQ's."""
    what, listing, example = (("DAQ", "config --daq", "workers.count=3") if daq else
                              ("emulator", "config", "beam.hadron_fraction=0.02"))
    p.add_argument("--config", metavar="FILE", help=f"{what} configuration (TOML); "
                   f"see 'na64daq {listing}' for the keys")
    p.add_argument("--detector", metavar="FILE",
                   help="detector map (TOML); default: the map shipped with na64daq")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help=f"override one configuration key, e.g. --set {example} "
                        "(repeatable; VALUE is read as TOML)")


def run_control_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--heartbeat", metavar="ENDPOINT",
                   help="send heartbeats with the counters to a supervisor (set by na64daq run)")
    p.add_argument("--name", default="source", help="name in those heartbeats")
    p.add_argument("--commands", metavar="ENDPOINT", help="the supervisor's commands (set by "
                   "na64daq run): the spill a time-compressed stop ends with")
    p.add_argument("--keys", metavar="DIR", help="CURVE key directory (set by na64daq run when "
                   "its links use CURVE): heartbeats and commands with the DAQ's key --key")
    p.add_argument("--key", default="daq", metavar="NAME", help="the DAQ's key in --keys")
    p.add_argument("--curve-data", action="store_true", help="the crate's data link with "
                   "CURVE too (security.curve_data)")


def emulate_options(p: argparse.ArgumentParser) -> None:
    common_options(p)
    p.add_argument("--spills", type=COUNT, help="number of spills (run.spills)")
    p.add_argument("--intensity", type=number(float, 0.0), metavar="E",
                   help="electrons per spill (beam.intensity_per_spill), e.g. 5e6")
    p.add_argument("--seed", type=number(int, 0), help="random seed (run.seed)")
    p.add_argument("--run", type=RUN, help="run number (run.number)")


def config_overrides(args: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    """--set values, and the shortcut options (keys of the emulator, under ``prefix``)."""
    import tomllib

    out: dict[str, Any] = {}
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw  # a bare word is a string
    for attr, key in (("spills", "run.spills"), ("intensity", "beam.intensity_per_spill"),
                      ("seed", "run.seed"), ("run", "run.number")):
        value = getattr(args, attr, None)
        if value is not None:
            out[prefix + key] = value
    return out


def emulator_from(args: argparse.Namespace, extra: dict[str, Any] | None = None):
    from emulator.config import EmulatorConfig
    from emulator.emulator import Emulator

    overrides = config_overrides(args)
    overrides.update(extra or {})
    cfg = load(EmulatorConfig, args.config, overrides)
    detector = Detector.load(args.detector)
    return Emulator(cfg, detector)


def daq_config_from(args: argparse.Namespace, extra: dict[str, Any] | None = None):
    from daq.processes.daq_config import DaqConfig

    overrides = config_overrides(args, prefix="emulator.")
    overrides.update(extra or {})
    return load(DaqConfig, args.config, overrides)


def trigger_bits_option(p: argparse.ArgumentParser) -> None:
    """``--trigger-bits BIT=KIND,...``: which DATE trigger-mask bit is which trigger kind
    (None when not given: ``TRIGGER_BITS``)."""
    p.add_argument("--trigger-bits", type=argument_type(parse_trigger_bits, "trigger bits"),
                   metavar="BIT=KIND,...",
                   help="DATE trigger-mask bits and the trigger kinds they are (default "
                   f"{TRIGGER_BITS_TEXT}; the lowest bit set wins)")
