"""``na64daq reco``: the reconstruction computed again from run files' waveforms."""

from __future__ import annotations

import argparse
import json

from daq.core.cli_arguments import no_verify_option
from daq.core.config_schema import ConfigError, load


def add_arguments(sub) -> None:
    p = sub.add_parser("reco", help="re-run the reconstruction on run files' waveforms",
                       description="Reconstruct the raw waveforms of run files again into "
                       "reconstruction files that point to their source (default "
                       "FILE.reco.h5). With no option, a reproduction: the run's own "
                       "configuration, constants and learnt state, checked bit for bit "
                       "against the online values (exit 1 if a column differs).")
    p.add_argument("file", help="a run file with raw waveforms")
    p.add_argument("--out", metavar="FILE", help="reconstruction file to write")
    p.add_argument("--config", metavar="FILE", help="reconstruction configuration (TOML); "
                   "see 'na64daq config --reco'; default: the run's own")
    p.add_argument("--calibration", metavar="FILE", help="calibration constants (JSON, as in "
                   "a run file's /provenance/calibration); default: those of the run")
    p.add_argument("--conditions", action="store_true", help="then the constants in force "
                   "for the run in the conditions database (--db)")
    p.add_argument("--db", metavar="PATH", help="conditions database (default: $NA64DAQ_DB "
                   "or the per-user one)")
    p.add_argument("--relearn", action="store_true", help="learn the running pedestals and "
                   "the gain drift afresh, per spill in event order, instead of using the "
                   "state recorded with each batch")
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
    config = load(RecoConfig, args.config) if args.config else None  # None: the run's own
    db = None
    if args.conditions:
        from daq.core.run_database import RunDatabase

        db = RunDatabase(args.db)
    try:
        r = reprocess(args.file, args.out, config, constants, conditions=db,
                      verify_blocks=not args.no_verify, relearn=args.relearn)
    finally:
        if db is not None:
            db.close()
    print(f"run {r['run']}: {r['events']} events reconstructed (calibration "
          f"{r['calibration_tag']}, {r['reconstruction_tag']}) into {r['file']}")
    if not r["reproduction"]:
        print("a new reconstruction (other configuration, constants or learnt state), "
              "not a reproduction")
        return 0
    if r["differing"]:
        print(f"NOT a reproduction: {len(r['differing'])} columns differ from the online "
              f"reconstruction: {', '.join(r['differing'])}")
        return 1
    print("a reproduction: every column of /reco/events and /reco/channels has the SHA-256 "
          "of the online reconstruction's")
    return 0
