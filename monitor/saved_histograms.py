"""A run's monitor histograms saved beside its run file (``run_NNNNNN.monitor.h5``,
``docs/monitor.md``): plain HDF5 that h5py reads without our code, and that the window (and
the reference overlays to come) read back as a snapshot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from daq.core.run_database import software_version
from daq.run_file.layout import LIBVER, RunFileError, provenance_attrs
from daq.run_file.structure_check import check_structure
from monitor import snapshot as proto
from monitor.histograms import histogram_specs

FORMAT = "na64daq-monitor-histograms"
FORMAT_VERSION = 1
OTHER_ARRAYS = {  # what a snapshot carries besides the histograms
    "waveform_samples": "latest sampled waveform per channel (ADC counts)",
    "plane_events": "rows (E_ECAL bin, E_HCAL bin, spill, event): the latest events per bin",
    "class_events": "rows (class, spill, event): the latest events per class",
}


def save(snap: proto.Snapshot, path: str | Path) -> Path:
    """Written to a temporary name and renamed: a reader never sees half a file."""
    path = Path(path)
    n_channels = len(snap.header.get("channels") or [])
    specs = {s.name: s for s in histogram_specs(n_channels)}
    tmp = path.with_name(path.name + ".part")
    with h5py.File(tmp, "w", libver=LIBVER) as f:  # HDF5 1.10 reads it
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["protocol"] = proto.PROTOCOL
        f.attrs["run"] = snap.header.get("run") or 0
        f.attrs["blinded"] = bool(snap.header.get("blinded"))
        f.attrs["snapshot_header"] = json.dumps({k: v for k, v in snap.header.items()
                                                 if k != "arrays"})
        f.attrs["software_version"] = software_version()
        f.attrs.update(provenance_attrs({  # what the histograms were filled with
            "reco_config": json.dumps(snap.header.get("reco_config")),
            "calibration": json.dumps(snap.header.get("calibration") or {}),
            "snapshot_header": f.attrs["snapshot_header"]}))
        for (scope, name), a in snap.arrays.items():
            ds = f.require_group(scope).create_dataset(name, data=a, compression="gzip")
            spec = specs.get(name)
            if spec is not None:
                ds.attrs["axes"] = json.dumps([x.as_dict() for x in spec.axes])
                ds.attrs["units"] = json.dumps([x.unit for x in spec.axes])
                ds.attrs["description"] = spec.description
            else:
                ds.attrs["description"] = OTHER_ARRAYS.get(name, name)
    os.replace(tmp, path)
    return path


def is_saved_histograms(path: str | Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except OSError:
        return False


def load(path: str | Path) -> proto.Snapshot:
    """The saved snapshot, with the same names and scopes as a live one."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT or f.attrs.get("format_version") != FORMAT_VERSION:
            raise proto.SnapshotError(f"{path}: not a na64daq monitor-histogram file of "
                                      f"version {FORMAT_VERSION}")
        try:
            check_structure(f)
        except RunFileError as exc:
            raise proto.SnapshotError(str(exc)) from None
        header = json.loads(f.attrs["snapshot_header"])
        arrays = {(scope, name): np.asarray(ds[()])
                  for scope, group in f.items() for name, ds in group.items()}
    header["arrays"] = [{"name": n, "scope": s} for s, n in arrays]
    header["saved_file"] = str(path)
    return proto.Snapshot(header, arrays)
