"""The ``na64daq`` command. User errors print one line naming the problem, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import sys

from daq.core.cli_arguments import OneLineParser
from daq.core.config_schema import ConfigError
from daq.core.detector import DetectorMapError
from daq.core.wire_format import FrameError

DESCRIPTION = """\
na64daq: data acquisition and online monitoring for an NA64-style missing-energy experiment
(100 GeV electrons on an active ECAL target).

  na64daq demo                       the whole DAQ on the emulator: one spill, then the ledger
  na64daq run / ctl start|stop       a DAQ under run control
  na64daq status [--json]            the last run's record and loss ledger
  na64daq emulate --out run.h5       emulate a run into a file (frames and truth)
  na64daq emulate --date run.dat     emulate a run as NA64's raw data (DATE)
  na64daq emulate                    publish emulated frames on the sources' ZeroMQ endpoints
  na64daq replay run.h5              re-stream a recorded run on the same endpoints
  na64daq inspect [--verify] FILE    what a run file holds (--json for machines)
  na64daq recover FILE               a run file whose writer died, as a closed file
  na64daq export --root FILE         the reconstruction as a ROOT TTree
  na64daq reco FILE...               re-run the reconstruction on run files' waveforms
  na64daq convert FILE --map MAP     NA64's raw data (DATE files) into a run file
  na64daq calib hv|ecal|show|...     calibration scripts and the conditions database
  na64daq detector                   show the channel map
  na64daq config                     list every configuration key with its default and range
  na64daq keys new|list              CURVE keys and roles, for a DAQ beyond one host
  na64daq deploy --out DIR           each host's supervisord configuration
"""

#: every command, a module of daq/app/commands, in the order ``--help`` lists them
COMMANDS = ("demo", "monitor", "run", "ctl", "status", "emulate", "replay", "inspect", "recover",
            "export", "reco", "convert", "calib", "detector", "config", "keys", "deploy", "bench")

USER_ERRORS = (ConfigError, DetectorMapError, FrameError, OSError, KeyError)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the command ``argv`` names, or of all (for ``--help`` and mistakes): a
    command imports only its own modules, and a DAQ process starts in half the time (scipy
    alone, for the calibration scripts, took 0.5 s of every crate's start on each run)."""
    parser = OneLineParser(
        prog="na64daq", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    named = argv[0] if argv and argv[0] in COMMANDS else None
    for name in (named,) if named else COMMANDS:
        _command(name).add_arguments(sub)
    return parser


def _command(name: str):
    return importlib.import_module(f"daq.app.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return _command(args.command).run(args)
    except KeyboardInterrupt:
        print("na64daq: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, OSError) and exc.filename:
            msg = f"{exc.filename}: {exc.strerror}"
        print(f"na64daq: error: {msg}", file=sys.stderr)
        return 2


def _is_user_error(exc: Exception) -> bool:
    if isinstance(exc, USER_ERRORS):
        return True
    from calib.fit_figure import FigureError
    from calib.logbook import LogbookFormatError
    from daq.conditions import ConditionsError
    from daq.core.channel_table import ValueTableError
    from daq.core.control_protocol import RunControlError
    from daq.core.run_database import RunDatabaseError
    from daq.raw.date_format import RawFormatError
    from daq.run_file.layout import RunFileError  # imported late: it pulls in h5py

    return isinstance(exc, (RawFormatError, RunFileError, RunDatabaseError, RunControlError,
                            ConditionsError, LogbookFormatError, ValueTableError, FigureError))


if __name__ == "__main__":
    sys.exit(main())
