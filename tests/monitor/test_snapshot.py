"""The snapshot protocol: what the tap sends decodes to the same arrays; anything else is
refused with a reason."""

import json

import numpy as np
import pytest

from monitor import snapshot as proto


def _parts():
    a = np.arange(6, dtype="<f8").reshape(2, 3)
    b = np.arange(4, dtype="<u2")
    return proto.encode({"seq": 7, "run": 3}, [("plane", "run", a), ("samples", "latest", b)])


def test_round_trip_keeps_arrays_and_header():
    snap = proto.decode([bytes(p) for p in _parts()])
    assert snap.seq == 7 and snap.header["run"] == 3
    assert snap.hist("plane").tolist() == [[0, 1, 2], [3, 4, 5]]
    assert snap.hist("samples", "latest").dtype == np.uint16


def _with_header(**change):
    parts = [bytes(p) for p in _parts()]
    head = json.loads(parts[1])
    head.update(change)
    parts[1] = json.dumps(head).encode()
    return parts


@pytest.mark.parametrize("parts, reason", [
    ([b"snapshot"], "message parts"),
    ([b"summary", b"{}"], "topic"),
    ([b"snapshot", b"\xff{"], "not JSON"),
    ([b"snapshot", b"[1]"], "not a JSON object"),
    (_with_header(protocol="na64daq-monitor/0"), "protocol"),
    (_with_header(seq="7"), "seq"),
    (_with_header(arrays=[]), "describes 0 arrays"),
    (_with_header(arrays=[{"name": "p", "scope": "run", "dtype": "<f8", "shape": [7]},
                          {"name": "s", "scope": "latest", "dtype": "<u2", "shape": [4]}]),
     "bytes for shape"),
    (_with_header(arrays=[{"name": "p", "scope": "run", "dtype": "|O", "shape": [6]},
                          {"name": "s", "scope": "latest", "dtype": "<u2", "shape": [4]}]),
     "refused"),
    (_with_header(arrays=[{"name": "p"}, {}]), "malformed"),
])
def test_bad_messages_are_refused_with_their_reason(parts, reason):
    with pytest.raises(proto.SnapshotError, match=reason):
        proto.decode(parts)


def test_a_reset_counts_the_run_from_the_baseline_and_a_new_run_from_zero():
    """Only the run-scope histograms: the strip charts' rows (and their ledgers) stay."""
    def snap(run, spill, value):
        parts = proto.encode({"seq": 1, "run": run, "spill": spill,
                              "spills": [{"spill": s} for s in range(1, spill + 1)]},
                             [("plane", "run", np.full(3, float(value))),
                              ("plane", "spill", np.full(3, 1.0))])
        return proto.decode([bytes(p) for p in parts])

    base, later = snap(3, 2, 10), snap(3, 5, 25)
    shown = proto.since(later, base, reset_unix_s=1.5e9)
    assert shown.hist("plane").tolist() == [15, 15, 15]
    assert shown.hist("plane", "spill").tolist() == [1, 1, 1]  # as it is
    assert [r["spill"] for r in shown.header["spills"]] == [1, 2, 3, 4, 5]
    assert shown.header["reset_unix_s"] == 1.5e9 and shown.header["reset_at_spill"] == 2
    assert proto.since(snap(4, 1, 7), base).hist("plane").tolist() == [7, 7, 7]


def test_a_fresh_server_s_snapshot_with_empty_event_samples_decodes(detector, filler):
    """Before the first event the event samples are 0 rows: their part is empty, not an
    error (a memoryview of an empty array cannot be cast)."""
    from monitor.histogram_server import HistogramServer

    snap = proto.decode(HistogramServer(detector, filler).snapshot())
    assert snap.arrays[("run", "plane_events")].shape == (0, 4)
    assert snap.arrays[("run", "class_events")].dtype == np.dtype("<i4")
