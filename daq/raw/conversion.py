"""NA64's raw data converted into our run file (``na64daq convert``): every DATE event of the
files decoded, placed by the channel map, reconstructed, and written with its spills' rows and
ledgers, the decoder's report in the provenance. Written as ``OUT.partial``, verified, then
renamed (``docs/raw-format.md``)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from daq.core.config_schema import to_dict
from daq.core.detector import Detector
from daq.core.ledger import spill_ledger, sum_ledgers
from daq.core.records import spill_runs
from daq.raw.channel_map import ChannelMap
from daq.raw.date_decoder import DateReader
from daq.raw.digit_assembly import Assembly, assemble
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.reco_config import RecoConfig
from daq.run_file import layout as L
from daq.run_file.file_writer import FileHeader, RunFileWriter, WriterSettings
from daq.run_file.spill_figures import SpillFigures
from daq.run_file.verification import open_verified


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _events(paths: list[Path], map_path: Path, detector: Detector, names: dict[str, str],
            state: Assembly, readers: list[DateReader], trigger_bits: dict[int, int] | None
            ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(run, events, samples) window by window over every file, the map loaded for the run
    of the first event."""
    cmap = None
    for path in paths:
        reader = DateReader(path)
        readers.append(reader)
        for part in reader:
            if not len(part.events):
                continue
            run = int(part.events["run"][0])
            if cmap is None:
                cmap = ChannelMap.load(map_path, detector, run, names)
            events, samples = assemble(part, cmap, state, trigger_bits)
            yield run, events, samples


def convert(paths: list[str | Path], map_path: str | Path, out: str | Path,
            detector: Detector | None = None, config: RecoConfig | None = None,
            constants: CalibrationConstants | None = None, names: dict[str, str] | None = None,
            batch_events: int = 1024, trigger_bits: dict[int, int] | None = None
            ) -> dict[str, Any]:
    """Convert the DATE files ``paths`` (one run, in order) into the run file ``out``."""
    from daq.reco.reconstruction import Reconstruction  # numba: only when converting

    paths = [Path(p) for p in paths]
    out = Path(out)
    detector = detector or Detector.load()
    if config is None:  # DATE keeps no trigger phase (docs/raw-format.md, Assumptions)
        default = RecoConfig()
        config = replace(default, pulses=replace(default.pulses, trigger_phase="unknown"))
    constants = constants or CalibrationConstants.nominal(detector)
    reco = Reconstruction(detector, config, constants)
    state, readers = Assembly(), []
    stream = _events(paths, Path(map_path), detector, names or {}, state, readers, trigger_bits)
    first = next(stream, None)
    if first is None:
        raise L.RunFileError(f"{paths[0]}: no physics or calibration event to convert")
    run = first[0]
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    sources = {"files": [{"name": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p)}
                         for p in paths], "map": str(map_path)}
    header = FileHeader(run, detector, {
        "reco_config": json.dumps(to_dict(config)),
        "calibration": json.dumps(constants.to_dict()),
        "run_record": json.dumps({"run": run, "source": "DATE raw data"}),
        "raw_source": json.dumps(sources)}, name=partial.name)
    writer = RunFileWriter(out.parent, header, WriterSettings(block_events=batch_events))
    figures = SpillFigures(detector)
    ledgers: list[dict[str, Any]] = []
    spill, in_spill = None, 0

    def end_spill() -> None:
        writer.write_block()
        ledger = spill_ledger(spill, {"builder": {"triggered": in_spill}},
                              writer.take_spill_counts(spill))
        start_ns, end_ns = state.burst_ns(run, spill)  # DATE's clock; 0: not in the file
        writer.write_spill(figures.row(ledger, start_ns or 0, end_ns or 0), ledger)
        ledgers.append(ledger)

    try:
        for _, events, samples in chain([first], stream):
            for lo in range(0, len(events), batch_events):
                ev, s = events[lo:lo + batch_events], samples[lo:lo + batch_events]
                for a, b in spill_runs(ev["spill"]):
                    if ev["spill"][a] != spill:
                        if spill is not None:
                            end_spill()
                        spill, in_spill = int(ev["spill"][a]), 0
                    result, channels = reco(s[a:b], ev[a:b])
                    table = channels.table()
                    writer.append(ev[a:b], s[a:b], result, table,
                                  L.state_row(detector.n_channels, b - a,
                                              reco.last_state.record()))
                    figures.add(ev[a:b], result, table)
                    in_spill += b - a
        if spill is not None:
            end_spill()
    except BaseException:
        writer.close(None)
        partial.unlink(missing_ok=True)
        raise
    problems: Counter = Counter()
    for r in readers:
        problems.update(r.report.counts)
    report = {"date_events": sum(r.report.events for r in readers),
              "problems": dict(problems),
              "missing_modules": [[*k, v] for r in readers
                                  for k, v in r.report.missing_modules.items()],
              "unknown_digits": [[*k, v] for k, v in state.unknown_digits.most_common()],
              "sample_count_mismatch": state.sample_count_mismatch}
    writer.close({"ledger": sum_ledgers(ledgers, {}), "events": writer.written_events,
                  "raw_decoding": report})
    with open_verified(partial) as done:
        n = done.n_events
    partial.replace(out)
    return {"file": str(out), "run": run, "events": n, "spills": len(ledgers), **report}
