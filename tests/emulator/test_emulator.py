"""The emulator's run-level behaviour that the per-physics tests do not see."""

from dataclasses import replace

from conftest import new_jit_signatures

from emulator import physics, waveforms


def test_after_warm_up_no_batch_size_or_source_needs_a_new_compilation(make_emulator, detector):
    # a batch of one event once made a field view contiguous, a new signature: the source
    # compiled for seconds mid-run without a heartbeat and the supervisor ended the run
    em = make_emulator(**{"spill.duration_s": 0.2, "trigger.led_rate_hz": 100.0,
                          "beam.scan_ecal": True})
    sid = detector.source_ids[-1]
    em.warm_up([sid])
    plan = em.spill_plan(7)
    with new_jit_signatures(physics, waveforms) as new:
        for n in (1, 2, len(plan.triggers)):
            tiny = replace(plan, triggers=plan.triggers[:n], times_ns=plan.times_ns[:n])
            batches = list(em.batches(tiny, [sid]))
            assert sum(len(b.events) for b in batches) == n
    assert new == []
