"""The emulator's run-level behaviour that the per-physics tests do not see."""


from conftest import compiled_after_warm_up


def test_after_warm_up_no_batch_size_or_source_needs_a_new_compilation():
    # a batch of one event once made a field view contiguous, a new signature: the source
    # compiled for seconds mid-run without a heartbeat and the supervisor ended the run
    warm_up = """
        from dataclasses import replace
        from daq.core.config_schema import load
        from daq.core.detector import Detector
        from emulator.config import EmulatorConfig
        from emulator.emulator import Emulator
        detector = Detector.load()
        em = Emulator(load(EmulatorConfig, None, {"spill.duration_s": 0.2,
                      "trigger.led_rate_hz": 100.0, "beam.scan_ecal": True}), detector)
        sid = detector.source_ids[-1]
        em.warm_up([sid])
    """
    work = """
        plan = em.spill_plan(7)
        for n in (1, 2, len(plan.triggers)):
            tiny = replace(plan, triggers=plan.triggers[:n], times_ns=plan.times_ns[:n])
            assert sum(len(b.events) for b in em.batches(tiny, [sid])) == n
    """
    assert compiled_after_warm_up(["emulator.physics", "emulator.waveforms"], warm_up,
                                  work) == []
