"""``na64daq inspect``: what a run file holds, for people and for machines."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from daq.core.ledger import COUNTS, balance
from daq.core.records import CLASS_NAMES
from daq.core.wire_format import TriggerKind
from daq.run_file import layout as L
from daq.run_file.reader import RunReader


def summary(run: RunReader) -> dict[str, Any]:
    """The run, its spills, events, classes, loss ledger and provenance as one JSON-able dict.

    ``ledger`` is the run's final ledger when the run closed; otherwise the sum of the spill
    ledgers in the file, with ``closed: false``."""
    events = run.column(L.EVENTS)
    reco = run.column(L.RECO)
    spills = run.spills()
    end = run.run_end()
    if end is not None:
        ledger = dict(end["ledger"], closed=True)
    else:
        ledger = {k: int(spills[k].sum()) for k in COUNTS if k != "unaccounted"}
        ledger = balance(ledger) | {"spills": len(spills), "closed": False}
        ledger["balanced"] = bool(ledger["balanced"] and spills["balanced"].all())
    attrs = run.attrs
    classes = np.bincount(reco["event_class"], minlength=len(CLASS_NAMES))
    try:
        record = run.provenance_json("run_record")
        calibration = run.provenance_json("calibration")
    except L.RunFileError:
        record, calibration = {}, {}
    sizes = [f.id.get_filesize() for f in run.files]
    return {
        "files": [f.filename for f in run.files],
        "format": attrs["format"], "format_version": attrs["format_version"],
        "run": run.run, "run_uuid": run.run_uuid, "created_utc": attrs.get("created_utc"),
        "software_version": attrs.get("software_version"), "host": attrs.get("host"),
        "raw_compression": attrs.get("raw_compression"),
        "closed": end is not None,
        "events": len(events),
        "complete_events": int(events["complete"].sum()),
        "triggers": {k.name.lower(): int((events["trigger"] == k).sum()) for k in TriggerKind},
        "spills": [int(s) for s in spills["spill"]],
        "electrons_on_target": float(spills["eot_estimate"].sum()),
        "classes": {name: int(n) for name, n in zip(CLASS_NAMES, classes, strict=False)},
        "ledger": ledger,
        "provenance": {"config_sha256": _text(run, "daq_config_sha256"),
                       "calibration_tag": calibration.get("tag"),
                       "run_started_unix_s": record.get("start_time"),
                       "software_version": record.get("software_version"),
                       "truth_file": attrs.get("truth_file") or None,
                       "source_file": attrs.get("source_file")},
        "file_bytes": int(sum(sizes)),
        "raw_bytes": int(len(events) * np.prod(run.files[0][L.SAMPLES].shape[1:]) * 2)
        if run.has_raw else 0,
    }


def _text(run: RunReader, name: str) -> str | None:
    try:
        return run.provenance(name)
    except L.RunFileError:
        return None


def print_summary(s: dict[str, Any], verification: dict[str, Any] | None = None) -> None:
    files = s["files"]
    print(f"{files[0]}" + (f" (+{len(files) - 1} rotated files)" if len(files) > 1 else ""))
    print(f"  run {s['run']} ({s['format']} v{s['format_version']}), written "
          f"{s['created_utc']} on {s['host']} by na64daq {s['software_version']}"
          + ("" if s["closed"] else "; the run did not close"))
    t = s["triggers"]
    print(f"  {s['events']} events ({s['complete_events']} complete) in {len(s['spills'])} "
          f"spills; triggers: {t['physics']} physics, {t['calibration']} calibration, "
          f"{t['random']} random; EOT estimate {s['electrons_on_target']:.3g}")
    print("  classes: " + ", ".join(f"{k} {v}" for k, v in s["classes"].items()))
    lg = s["ledger"]
    print(f"  ledger: triggered {lg['triggered']}, written {lg['written_complete']} complete + "
          f"{lg['written_incomplete']} incomplete, rejected {lg['rejected']}, dropped by "
          f"policy {lg['dropped_by_policy']}, unaccounted {lg['unaccounted']}: "
          + ("balanced" if lg["balanced"] else "NOT BALANCED"))
    if s["raw_bytes"]:
        print(f"  raw samples {s['raw_bytes'] / 1e6:.1f} MB in {s['file_bytes'] / 1e6:.1f} MB "
              f"of file ({s['raw_compression']}, ratio "
              f"{s['raw_bytes'] / max(s['file_bytes'], 1):.2f})")
    p = s["provenance"]
    print("  provenance: " + ", ".join(f"{k} {v}" for k, v in p.items() if v))
    if verification is not None:
        v = verification
        state = "verified" if v["ok"] else "FAILED"
        print(f"  checksums: {state}: {v['blocks']} blocks, {v['verified_events']} events"
              + (f", {v['unverified_rows']} rows after the last block unverified"
                 if v["unverified_rows"] else ""))
        for b in v["bad_blocks"]:
            print(f"    block {b['block']} (rows {b['rows'][0]}-{b['rows'][1]}) of "
                  f"{b['file']}: {'; '.join(b['problems'])}")


def to_json(s: dict[str, Any], verification: dict[str, Any] | None) -> str:
    return json.dumps(s | ({"verification": verification} if verification else {}), indent=1)
