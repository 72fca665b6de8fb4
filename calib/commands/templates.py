"""``na64daq calib templates``: every channel's pulse template measured from a run's
calibration electrons and LED flashes, written as a new version of the conditions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from calib.calib_config import CalibConfig
from calib.commands.options import database_options
from calib.template_learning import TRIGGERS, learn_templates
from daq.conditions import Conditions, ConditionsError, LogEntry
from daq.core.cli_arguments import RUN, no_verify_option
from daq.core.config_schema import load
from daq.core.detector import Detector, DetectorMapError
from daq.core.pulse_shape import STEP_NS, PulseTemplate
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.channel_templates import fwhm_ns
from daq.reco.reco_config import recorded
from daq.run_file import layout as L
from daq.run_file.verification import open_verified


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("templates", help="pulse templates measured from a calibration run",
                      description="Measure each channel's pulse shape from the clean pulses of "
                      "a run's calibration electrons and LED flashes, and write it as a new "
                      "version of the conditions (valid from that run on): the reconstruction "
                      "then fits those channels' pulses with it (docs/reconstruction.md).")
    q.add_argument("--from", dest="source", required=True, metavar="FILE",
                   help="run file with calibration and LED triggers")
    no_verify_option(q)
    q.add_argument("--first-run", type=RUN, help="first run of validity (default: the run)")
    q.add_argument("--last-run", type=RUN, help="last run of validity (default: open)")
    q.add_argument("--config", metavar="FILE", help="calibration defaults (TOML)")
    database_options(q)


def run(args: argparse.Namespace, cond: Conditions) -> int:
    cfg = load(CalibConfig, args.config).templates
    with open_verified(args.source, not args.no_verify) as source:
        try:
            detector = Detector.from_text(source.provenance("detector_map"),
                                          f"{args.source} map")
            constants = CalibrationConstants.from_dict(source.provenance_json("calibration"),
                                                       detector.n_channels)
            config = recorded(source.provenance_json("reco_config", missing_ok=True))
        except (DetectorMapError, ValueError) as exc:
            raise L.RunFileError(f"{args.source}: {exc}") from None
        samples, events = _calibration_events(source, cfg.max_events)
        run_number = source.run
    if not len(events):
        raise ConditionsError(f"{args.source}: no complete calibration or LED event")
    with tqdm(total=cfg.iterations, desc="measuring templates", leave=False,
              disable=args.json or None) as bar:
        learnt = learn_templates(samples, events, detector, config, constants, cfg, bar.update)
    analytic = _fwhm_ns(config)
    kept = [n for n in learnt.pulses if n not in learnt.templates]
    text = (f"calib templates from {Path(args.source).name}: {len(learnt.templates)} of "
            f"{detector.n_channels} channels from {learnt.events} calibration and LED events")
    first_run = args.first_run or run_number
    version = None
    if learnt.templates and not args.dry_run:
        entry = LogEntry(text, args.author, run_number, values=[
            (n, "pulse_template", t.fwhm_ns) for n, t in learnt.templates.items()])
        version = cond.write_templates(learnt.templates, first_run, args.last_run,
                                       author=args.author, comment=text, entry=entry)
    if args.json:
        print(json.dumps({"run": run_number, "events": learnt.events, "version": version,
                          "first_run": first_run, "dry_run": args.dry_run,
                          "change_per_iteration": learnt.change,
                          "analytic_fwhm_ns": analytic, "channels": {
                              n: {"pulses": learnt.pulses[n],
                                  "fwhm_ns": t.fwhm_ns if (t := learnt.templates.get(n))
                                  else None} for n in learnt.pulses}}, indent=1))
        return 0
    print(f"{'channel':<12}{'pulses':>8}{'FWHM [ns]':>11}")
    for n, t in learnt.templates.items():
        print(f"{n:<12}{learnt.pulses[n]:>8}{t.fwhm_ns:>11.2f}")
    print(f"the analytic template's FWHM: {analytic:.2f} ns; the last iteration changed a "
          f"template by at most {learnt.change[-1] if learnt.change else float('nan'):.4f} "
          "of its peak")
    if kept:
        print(f"note: {len(kept)} channels keep the analytic template (fewer than "
              f"{cfg.min_pulses} clean pulses): " + ", ".join(
                  f"{n} ({learnt.pulses[n]})" for n in kept))
    print(text + ("; dry run, nothing written" if args.dry_run else
                  f"; templates version {version} for runs from {first_run}" if version else
                  "; nothing written"))
    return 0


def _calibration_events(source, max_events: int) -> tuple[np.ndarray, np.ndarray]:
    """The samples and event rows of the first ``max_events`` complete calibration and LED
    events."""
    samples, events, n = [], [], 0
    for chunk in source.chunks((L.EVENTS, L.SAMPLES)):
        ev = chunk[L.EVENTS]
        sel = np.isin(ev["trigger"], [int(t) for t in TRIGGERS]) & (ev["complete"] == 1)
        sel &= np.cumsum(sel) <= max_events - n
        samples.append(chunk[L.SAMPLES][sel])
        events.append(ev[sel])
        n += int(sel.sum())
        if n >= max_events:
            break
    return np.concatenate(samples), np.concatenate(events)


def _fwhm_ns(config) -> float:
    """The analytic template's full width at half maximum (ns), to compare with."""
    t = PulseTemplate(config.pulses.peak_ns, config.pulses.order)
    return fwhm_ns(t.t0_ns + STEP_NS * np.arange(len(t.table)), t.table)
