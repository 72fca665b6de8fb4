"""``na64daq reco``: re-run the reconstruction on a run file's waveforms."""

from __future__ import annotations

import argparse
import json

from daq.core.cli_arguments import no_verify_option
from daq.core.config_schema import ConfigError, load


def add_arguments(sub) -> None:
    p = sub.add_parser("reco", help="re-run the reconstruction on a run file's waveforms",
                       description="Reconstruct the raw waveforms of a run file again (new "
                       "configuration or calibration) into a reconstruction file that points "
                       "to its source (default FILE.reco.h5).")
    p.add_argument("file", help="a run file with raw waveforms")
    p.add_argument("--out", metavar="FILE", help="reconstruction file to write")
    p.add_argument("--config", metavar="FILE", help="reconstruction configuration (TOML); "
                   "see 'na64daq config --reco'")
    p.add_argument("--calibration", metavar="FILE", help="calibration constants (JSON, as in "
                   "a run file's /provenance/calibration); default: those of the run")
    p.add_argument("--conditions", action="store_true", help="then the constants in force "
                   "for the run in the conditions database (--db)")
    p.add_argument("--db", metavar="PATH", help="conditions database (default: $NA64DAQ_DB "
                   "or the per-user one)")
    no_verify_option(p)


def run(args: argparse.Namespace) -> int:
    from daq.reco.reco_config import RecoConfig
    from daq.run_file.reprocessing import reprocess

    constants = None
    if args.calibration:
        try:
            with open(args.calibration) as fh:
                constants = json.load(fh)
        except ValueError as exc:
            raise ConfigError(f"{args.calibration}: not JSON ({exc})") from None
    db = None
    if args.conditions:
        from daq.core.run_database import RunDatabase

        db = RunDatabase(args.db)
    try:
        r = reprocess(args.file, args.out, load(RecoConfig, args.config), constants,
                      conditions=db, verify_blocks=not args.no_verify)
    finally:
        if db is not None:
            db.close()
    print(f"run {r['run']}: {r['events']} events reconstructed (calibration "
          f"{r['calibration_tag']}) into {r['file']}")
    return 0
