"""The reconstruction stub against the emulator's truth and against its pure-Python kernel."""

import numpy as np

from daq.core import records as er
from daq.core.wire_format import TriggerKind
from daq.reco.simple_extraction import SimpleExtraction, peak_above_pedestal
from emulator.config import ELECTRON


def test_the_stub_measures_electrons_a_few_percent_low(detector, rich_emulator):
    """The highest sample misses the peak between samples, and small cells fall below the
    threshold: low by a few percent."""
    stub = SimpleExtraction(detector)
    ratios, flagged = [], 0
    for b in rich_emulator.batches(rich_emulator.spill_plan(1)):
        reco, ch = stub(b.samples_in_map_order(detector), b.events)
        el = (b.truth["class"] == ELECTRON) & (b.truth["trigger"] == 2) & \
            (b.truth["n_pileup_window"] == 0)
        ratios.append(reco["e_ecal_gev"][el] / b.truth["e_ecal_gev"][el])
        assert ch.table().shape == (len(reco), detector.n_channels)
        flagged += int((reco["flags"] & er.EV_MISSING).sum())
    ratio = np.concatenate(ratios)
    assert len(ratio) > 1000
    assert 0.9 < np.median(ratio) < 1.0
    assert flagged == 0  # every source delivered


def test_compiled_and_pure_python_kernels_agree(detector, rich_emulator):
    b = next(iter(rich_emulator.batches(rich_emulator.spill_plan(1))))
    samples = b.samples_in_map_order(detector)[:20]
    out = [np.empty(samples.shape[:2], np.float32) for _ in range(4)]
    peak_above_pedestal(samples, 12.5, 10.0, out[0], out[1])
    peak_above_pedestal.py_func(samples, 12.5, 10.0, out[2], out[3])
    assert np.array_equal(out[0], out[2])
    assert np.array_equal(out[1], out[3], equal_nan=True)
    assert (out[0] > 0).any() and np.isnan(out[1]).any()  # pulses, and channels without one


def test_the_stub_blinds_every_physics_trigger(detector, rich_emulator):
    """It cannot find the signal box (pileup adds to its sums), so it hides every candidate
    there could be from the monitor: all physics triggers, and nothing else."""
    stub = SimpleExtraction(detector)
    for b in rich_emulator.batches(rich_emulator.spill_plan(1)):
        reco, _ = stub(b.samples_in_map_order(detector), b.events)
        physics = b.events["trigger"] == TriggerKind.PHYSICS
        assert physics.any() and (~physics).any()
        assert np.array_equal((reco["flags"] & er.EV_BLINDED) > 0, physics)


def test_after_warm_up_no_batch_needs_a_new_compilation():
    from conftest import compiled_after_warm_up

    warm_up = """
        import numpy as np
        from daq.core import built_batch
        from daq.core.detector import Detector
        from daq.reco.simple_extraction import SimpleExtraction
        detector = Detector.load()
        stub = SimpleExtraction(detector)
        stub.warm_up()
    """
    work = """
        events = np.zeros(5, built_batch.BUILT_DTYPE)
        samples = np.full((5, detector.n_channels, detector.samples_per_channel), 100, np.uint16)
        for n in (1, 2, 5):
            header = {"seq": n, "kind": "events", "run": 1, "spill": 1, "n_events": n}
            parts = [bytes(p) for p in built_batch.encode(header, events[:n], samples[:n])]
            batch = built_batch.decode(parts, detector.n_channels, detector.samples_per_channel)
            assert len(stub(batch.samples, batch.events)[0]) == n
    """
    assert compiled_after_warm_up(["daq.reco.simple_extraction"], warm_up, work) == []
