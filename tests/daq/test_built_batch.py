import numpy as np
import pytest

from daq.core import built_batch
from daq.core.built_batch import BUILT_DTYPE, RECO_DTYPE, BatchError


def _batch(n=5, n_ch=126, n_s=32):
    ev = np.zeros(n, BUILT_DTYPE)
    ev["event"] = np.arange(1, n + 1)
    samples = np.arange(n * n_ch * n_s, dtype=np.uint16).reshape(n, n_ch, n_s)
    return {"seq": 3, "kind": "events", "run": 1, "spill": 2, "n_events": n}, ev, samples


def test_round_trip_with_and_without_reconstruction():
    header, ev, samples = _batch()
    b = built_batch.decode(built_batch.encode(header, ev, samples), 126, 32)
    assert b.seq == 3 and b.kind == "events" and b.reco is None
    assert np.array_equal(b.events, ev) and np.array_equal(b.samples, samples)
    reco = np.zeros(5, RECO_DTYPE)
    reco["e_ecal_gev"] = [1, 2, 3, 4, 5]
    b = built_batch.decode(built_batch.encode(header, ev, samples, reco), 126, 32)
    assert np.array_equal(b.reco["e_ecal_gev"], [1, 2, 3, 4, 5])


def test_monitor_sample_carries_a_few_waveforms():
    header, ev, samples = _batch()
    header["waveform_rows"] = [0, 3]
    b = built_batch.decode(built_batch.encode(header, ev, samples[[0, 3]],
                                              np.zeros(5, RECO_DTYPE)), 126, 32)
    assert len(b.events) == 5 and np.array_equal(b.samples, samples[[0, 3]])


def test_markers_and_malformed_messages():
    m = built_batch.decode(built_batch.marker(7, "EOS", 1, 2, {"x": 1}), 126, 32)
    assert (m.kind, m.seq, m.header["info"]) == ("EOS", 7, {"x": 1})
    header, ev, samples = _batch()
    for parts in ([b"not json"], [b"[1]"], [b'{"seq": 1, "kind": "weird"}', b"", b""],
                  built_batch.encode(header, ev, samples[:4]),
                  [b'{"seq": 1, "kind": "EOS"}', b"extra"]):
        with pytest.raises(BatchError):
            built_batch.decode(parts, 126, 32)
