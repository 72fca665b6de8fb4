"""The event builder's assembly logic, fed with real emulated frames."""

from dataclasses import replace

import numpy as np
import pytest

from daq.building.assembler import EventAssembler, _Spill
from daq.core.wire_format import FrameKind, decode

SMALL = {"spill.duration_s": 0.2, "run.spills": 2, "run.batch_events": 40}


def _assembler(detector, run=1, **kw):
    """An assembler the supervisor has told to expect ``run`` (the emulator's default)."""
    args = dict(timeout_s=0.5, max_pending=100000, max_event_number=10_000_000, batch_events=64)
    args.update(kw)
    asm = EventAssembler(detector, **args)
    asm.expect(run)
    return asm


def _frames(em):
    return [(sid, decode(p)) for _, sid, p in em.frames()]


def _drain_out(asm):
    out = list(asm.out)
    asm.out.clear()
    return out


def _built(outputs):
    ev = [o for o in outputs if o[0] == "events"]
    events = np.concatenate([o[2] for o in ev])
    samples = np.concatenate([o[3] for o in ev])
    return events, samples


@pytest.fixture(scope="module")
def emulated(make_emulator):
    em = make_emulator(**SMALL)
    frames = _frames(em)
    truth = {}
    for item in em.stream():
        if hasattr(item, "truth"):
            for sid, s in item.samples.items():
                truth.setdefault(sid, []).append(s)
    return em, frames, {sid: np.concatenate(v) for sid, v in truth.items()}


def test_clean_run_builds_every_event_complete_and_in_order(detector, emulated):
    em, frames, truth = emulated
    asm = _assembler(detector)
    for sid, f in frames:
        asm.add(sid, f, now=0.0)
    out = _drain_out(asm)
    kinds = [o[0] for o in out]
    assert kinds[0] == "SOR" and kinds[-1] == "EOR"
    assert kinds.count("SOS") == kinds.count("EOS") == 2
    events, samples = _built(out)
    n = sum(len(em.spill_plan(s).triggers) for s in (1, 2))
    assert len(events) == n and events["complete"].all() and (events["missing"] == 0).all()
    for sid in detector.source_ids:  # every fragment landed on its channels
        chans = list(detector.source(sid).channels)
        assert np.array_equal(samples[:, chans], truth[sid])
    eor = out[-1][1]["info"]["builder"]
    assert eor["triggered"] == eor["built_complete"] == n
    assert eor["unseen_unexplained"] == 0 and eor["built_incomplete"] == 0


def test_a_source_that_skips_events_gives_named_incomplete_events(detector, emulated):
    _, frames, truth = emulated
    asm = _assembler(detector)
    skipped = set()
    for sid, f in frames:
        if sid == 3 and f.kind is FrameKind.EVENTS and f.spill == 1:
            keep = f.events["event"] % 7 != 0
            skipped |= {int(e) for e in f.events["event"][~keep]}
            if not keep.any():
                continue
            f = replace(f, events=f.events[keep], samples=f.samples[keep])
        asm.add(sid, f, now=0.0)
    events, samples = _built(_drain_out(asm))
    inc = events[events["complete"] == 0]
    assert {int(e) for e in inc["event"]} == skipped and (inc["spill"] == 1).all()
    bit = 1 << detector.source_ids.index(3)
    assert (inc["missing"] == bit).all()  # the missing source is named
    assert asm.stats[3].gaps == len(skipped)
    # the missing fragments read as zeros, every fragment that came is the emulator's own
    order = np.lexsort((events["event"], events["spill"]))
    samples, complete = samples[order], events["complete"][order].astype(bool)
    for sid, expected in truth.items():
        chans = detector.source(sid).channels
        if sid == 3:
            assert not samples[~complete][:, chans].any()
            assert np.array_equal(samples[complete][:, chans], expected[complete])
        else:
            assert np.array_equal(samples[:, chans], expected)


def test_timeout_emits_incomplete_events_before_the_spill_ends(detector, emulated):
    _, frames, _ = emulated
    asm = _assembler(detector, timeout_s=1.0)
    for sid, f in frames:
        if f.kind is FrameKind.EOS:
            break
        if sid != 4 or f.kind is not FrameKind.EVENTS:  # the HCAL crate started, then fell silent
            asm.add(sid, f, now=10.0)
    asm.collect(now=10.5)
    assert not [o for o in asm.out if o[0] == "events"]  # still waiting
    asm.collect(now=11.1)
    events, _ = _built(_drain_out(asm))
    assert len(events) > 0 and not events["complete"].any()
    assert (events["missing"] == 1 << detector.source_ids.index(4)).all()


def test_a_source_the_builder_is_not_reading_is_not_silent(detector, emulated):
    """Back-pressure from the workers stops the builder reading its sources: the HCAL crate's
    fragments wait in its socket, however long, and the events stay pending until they come
    (they were emitted incomplete after timeout_s, and the fragments then thrown away)."""
    _, frames, _ = emulated
    asm = _assembler(detector, timeout_s=1.0)
    held = []
    for sid, f in frames:
        if f.kind is FrameKind.EOS:
            break
        if sid == 4 and f.kind is FrameKind.EVENTS:
            held.append(f)  # queued in the crate's socket, not read
        else:
            asm.add(sid, f, now=10.0)
    for t in (10.5, 11.5, 13.0):  # three seconds of back-pressure
        asm.not_listening([4], now=t)
        asm.collect(now=t)
    assert not [o for o in asm.out if o[0] == "events"]
    for f in held:  # read again
        asm.add(4, f, now=13.1)
    asm.collect(now=13.1)
    events, _ = _built(_drain_out(asm))
    assert len(events) > 0 and events["complete"].all()
    assert asm.stats[4].late == 0


def test_a_source_that_has_not_started_is_waited_for(detector, emulated):
    _, frames, _ = emulated
    asm = _assembler(detector, timeout_s=1.0)
    for sid, f in frames:
        if sid != 4:  # the HCAL crate has not even sent its start of run yet
            asm.add(sid, f, now=10.0)
        if f.kind is FrameKind.EVENTS and sid == 3:
            break
    asm.collect(now=100.0)
    assert not [o for o in asm.out if o[0] == "events"]
    assert asm.pending > 0


def test_memory_stays_bounded(detector, emulated):
    _, frames, _ = emulated
    asm = _assembler(detector, max_pending=100)
    for sid, f in frames:
        if sid == 1 and f.kind is FrameKind.EVENTS:
            asm.add(sid, f, now=0.0)
            asm.collect(now=0.0)
            assert asm.pending <= 100 + f.n_events


def test_duplicates_out_of_order_and_wrong_run_are_counted(detector, emulated):
    _, frames, _ = emulated
    asm = _assembler(detector)
    data = [(sid, f) for sid, f in frames if f.kind is FrameKind.EVENTS and sid == 2]
    for sid, f in frames[:8]:  # SOR and SOS of every source
        asm.add(sid, f, now=0.0)
    sid, f = data[1]
    asm.add(sid, f, now=0.0)
    asm.add(sid, f, now=0.0)  # the same frame again
    sid, f = data[0]
    asm.add(sid, f, now=0.0)  # an earlier frame, late
    st = asm.stats[2]
    assert st.duplicates == data[1][1].n_events
    assert st.out_of_order >= 1
    asm.add(sid, replace(f, run=999), now=0.0)
    assert st.rejected == {"wrong_run": 1}
    absurd = f.events.copy()
    absurd["event"][0] = 2**31
    asm.add(sid, replace(f, events=absurd), now=0.0)
    assert st.rejected["absurd_event_number"] == 1


def test_a_source_delivering_a_spill_backwards_still_builds_complete_events(detector, emulated):
    em, frames, truth = emulated
    asm = _assembler(detector)
    held = []
    for sid, f in frames:
        if sid == 1 and f.kind is FrameKind.EVENTS and f.spill == 1:
            held.append((sid, f))
            continue
        if sid == 1 and f.kind is FrameKind.EOS and f.spill == 1:
            for h in reversed(held):  # every frame of the spill, last first
                asm.add(*h, now=0.0)
        asm.add(sid, f, now=0.0)
        asm.collect(now=0.0)
    events, samples = _built(_drain_out(asm))
    assert events["complete"].all()
    assert len(events) == sum(len(em.spill_plan(s).triggers) for s in (1, 2))
    order = np.lexsort((events["event"], events["spill"]))
    chans = list(detector.source(1).channels)
    assert np.array_equal(samples[order][:, chans], truth[1])
    assert asm.stats[1].out_of_order >= len(held) - 1


def test_a_source_jumping_far_ahead_is_refused_and_named(detector, emulated):
    _, frames, _ = emulated
    asm = _assembler(detector)
    data = [f for sid, f in frames if f.kind is FrameKind.EVENTS and sid == 2]
    for sid, f in frames[:8]:
        asm.add(sid, f, now=0.0)
    asm.add(2, data[0], now=0.0)
    jump = data[1].events.copy()
    jump["event"] += 5_000_000  # below max_event_number, but no spill waits that far apart
    asm.add(2, replace(data[1], events=jump), now=0.0)
    assert asm.stats[2].rejected == {"event_number_jump": 1}
    assert asm.stats[2].fragments == data[0].n_events


def test_spill_tables_keep_every_event_when_their_window_moves():
    sp = _Spill(1, n_sources=2)
    sp.reserve(1, 100, max_span=1 << 20)
    sp.t_first[50 - sp.base] = 5.0
    sp.lo, sp.hi = 40, 101
    assert sp.reserve(40, 5000, max_span=1 << 20)  # grows, dropping rows below lo
    assert sp.base == 40 and sp.t_first[50 - sp.base] == 5.0
    assert sp.reserve(3, 5000, max_span=1 << 20)  # a late fragment below the window
    assert sp.base == 3 and sp.t_first[50 - sp.base] == 5.0
    assert not sp.reserve(3, 3 + (1 << 20), max_span=1 << 20)


def test_after_warm_up_no_frame_needs_a_new_compilation():
    """Frames as they come from ZeroMQ (read-only buffers; one event or many) must use the
    kernels the warm-up compiled, emitted batches too."""
    from conftest import compiled_after_warm_up

    warm_up = """
        from dataclasses import replace
        from daq.core.config_schema import load
        from daq.core.detector import Detector
        from daq.building.assembler import EventAssembler, warm_up
        from daq.core.wire_format import decode
        from emulator.config import EmulatorConfig
        from emulator.emulator import Emulator, run_sequence
        detector = Detector.load()
        warm_up(detector)
    """
    work = """
        em = Emulator(load(EmulatorConfig, None, {"spill.duration_s": 0.2,
                                                  "run.batch_events": 7}), detector)
        plan = em.spill_plan(1)
        one = replace(plan, triggers=plan.triggers[:8], times_ns=plan.times_ns[:8])  # 7 + 1
        asm = EventAssembler(detector, 0.5, 100000, 10_000_000, 64)
        asm.expect(1)
        for item in run_sequence(1, detector, list(detector.source_ids), 0,
                                 [(one, em.batches(one))]):
            if isinstance(item, tuple):  # a frame, not the truth
                _, sid, parts = item
                asm.add(sid, decode([bytes(memoryview(x)) for x in parts]), now=0.0)
        built = [o[2] for o in asm.out if o[0] == "events"]
        assert sum(len(e) for e in built) == 8 and all(e["complete"].all() for e in built)
    """
    assert compiled_after_warm_up(["daq.building.assembler"], warm_up, work) == []


def test_a_pause_between_spills_longer_than_the_timeout_gives_no_incomplete_event(
        detector, emulated):
    """At the beam's pace the sources are silent between spills for longer than timeout_s, and
    the first crate's start of spill 2 may come before the others': its first frame must wait
    for them (it went out alone, the other three crates missing, in beam-paced runs)."""
    _, frames, _ = emulated
    asm = _assembler(detector, timeout_s=0.5)
    spill2 = [(sid, f) for sid, f in frames if f.spill == 2]
    picked = [k for k, x in enumerate(spill2) if x[0] == 1][:2]  # source 1's SOS and frame
    first = [spill2[k] for k in picked]
    rest = [x for k, x in enumerate(spill2) if k not in picked]
    for sid, f in [x for x in frames if x[1].spill == 1 or x[1].kind is FrameKind.SOR]:
        asm.add(sid, f, now=0.0)
        asm.collect(now=0.0)
    for k, (sid, f) in enumerate(first + rest):  # 10 s later: the pause
        asm.add(sid, f, now=10.0 + 0.001 * k)
        asm.collect(now=10.0 + 0.001 * k)
    for sid, f in frames:
        if f.kind is FrameKind.EOR:
            asm.add(sid, f, now=11.0)
    events, _ = _built(_drain_out(asm))
    assert events["complete"].all(), np.unique(events["missing"][~events["complete"]])


def test_batches_seconds_apart_within_a_spill_give_no_incomplete_event(detector, emulated):
    """At a low trigger rate (LED or calibration triggers alone, at the beam's pace) every crate
    is silent for seconds between two batches: the first crate's batch must wait for the
    others' (every event of such a run went out incomplete, the other crates' fragments
    thrown away as late)."""
    _, frames, _ = emulated
    asm = _assembler(detector, timeout_s=0.5)
    t = 0.0
    for sid, f in frames:
        if f.kind is FrameKind.EVENTS and sid == detector.source_ids[0]:
            t += 3.0  # the next batch, 3 s later; the other crates' frames 1 ms apart
        t += 0.001
        asm.add(sid, f, now=t)
        asm.collect(now=t)
    events, _ = _built(_drain_out(asm))
    assert len(events) > 0 and events["complete"].all(), \
        np.unique(events["missing"][~events["complete"]])
    assert all(s.late == 0 for s in asm.stats.values())


def test_an_early_frame_arriving_late_keeps_the_rows_already_seen():
    """Events 1-64 emitted, 65-1088 seen, then a late frame of events 33-64: the spill table
    must span 33-1088 (it kept only the late frame's span, 1024 rows from 33: a (1024,) vs
    (1088,) crash in pending_events at pace 4)."""
    sp = _Spill(1, 2)
    span = 1 << 20
    assert sp.reserve(1, 64, span)
    sp.lo = sp.hi = 65  # 1-64 emitted
    assert sp.reserve(65, 1088, span)
    sp.have[65 - sp.base:1089 - sp.base, 0] = True
    sp.hi = 1089
    assert sp.reserve(33, 64, span)
    assert sp.base <= 33 and sp.hi - sp.base <= len(sp.have)
    assert np.array_equal(sp.pending_events(), np.arange(65, 1089))


def test_hostile_frames_open_nothing_and_keep_the_builder_bounded(detector, emulated):
    _, frames, _ = emulated
    asm = _assembler(detector, run=1)
    sor = next(f for sid, f in frames if sid == 2 and f.kind is FrameKind.SOR)
    assert not asm.add(2, replace(sor, run=999), now=0.0)  # not the commanded run
    assert not asm.run_open and asm.idle_rejected[2] == {"uncommanded_sor": 1}
    assert _drain_out(asm) == []
    for sid, f in frames[:8]:
        asm.add(sid, f, now=0.0)
    assert not asm.add(2, sor, now=0.0)  # a second SOR
    data = next(f for sid, f in frames if sid == 2 and f.kind is FrameKind.EVENTS)
    for k in range(1000):  # every spill number a new one, far and near
        assert not asm.add(2, replace(data, spill=4_000_000_000 - k), now=0.0)
        assert not asm.add(2, replace(data, spill=4 + k), now=0.0)
    assert set(asm.spills) == {1}  # no spill opened
    assert asm.stats[2].rejected == {"repeated_sor": 1, "spill_out_of_window": 2000}
    assert asm.add(2, replace(data, spill=2), now=0.0)  # the next spill is in the window
    eor = next(f for sid, f in frames if sid == 2 and f.kind is FrameKind.EOR)
    assert not asm.add(2, replace(eor, run=2), now=0.0)  # another run's EOR
    for sid, f in frames[8:]:
        asm.add(sid, f, now=0.0)
    kinds = [o[0] for o in _drain_out(asm)]
    assert kinds.count("SOR") == 1 and kinds.count("EOR") == 1 and not asm.run_open
    assert not asm.add(2, sor, now=1.0)  # the run ended: its SOR cannot open it again
    assert asm.idle_rejected[2] == {"uncommanded_sor": 1, "late": 1}


def test_a_drain_builds_what_is_still_coming_and_opens_a_run_nobody_opened(detector, emulated):
    em, frames, _ = emulated
    asm = _assembler(detector, timeout_s=0.5)
    asm.drain(1, now=0.0)  # stopped before any source opened the run: it opens and closes
    kinds = [o[0] for o in _drain_out(asm)]
    assert kinds == ["SOR", "EOR"]
    asm.expect(2)
    frames2 = [(sid, replace(f, run=2)) for sid, f in frames]
    half = len(frames2) // 2
    for sid, f in frames2[:half]:
        asm.add(sid, f, now=1.0)
    asm.drain(2, now=1.0)  # the sources are not silent: the drain waits for them
    assert asm.run_open
    for sid, f in frames2[half:]:
        asm.add(sid, f, now=1.1)
        asm.collect(now=1.1)
    events, _ = _built(_drain_out(asm))
    assert not asm.run_open and events["complete"].all()
    assert len(events) == sum(len(em.spill_plan(s).triggers) for s in (1, 2))


def test_take_fragments_compiled_and_in_python_agree(detector, emulated):
    from daq.building.assembler import take_fragments

    _, frames, _ = emulated
    events = [f.events for sid, f in frames if f.kind is FrameKind.EVENTS][:8]
    results = []
    for kernel in (take_fragments, take_fragments.py_func):
        sp = _Spill(1, 4)
        counts = []
        for k, ev in enumerate(events):
            e = ev.copy()
            if k == 5:
                e["trigger_time_ns"][::3] += 25  # a crate that disagrees on some
            counts.append(kernel(e["event"].astype(np.int64), k % 4, k, 1.0,
                                 e["trigger"].astype(np.uint8),
                                 e["trigger_time_ns"].astype(np.uint64), sp.base, sp.have,
                                 sp.block, sp.row, sp.t_first, sp.trigger, sp.time_ns,
                                 sp.src_trigger, sp.src_time, sp.done, sp.last_event))
        results.append((counts, sp.have.copy(), sp.block.copy(), sp.time_ns.copy(),
                        sp.src_time.copy()))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1:], results[1][1:], strict=True):
        assert np.array_equal(a, b)
    assert (results[0][4] != results[0][3][:, None])[results[0][1]].any()  # the disagreement


def test_a_crate_whose_counter_restarts_is_refused_not_attached_to_other_events(detector,
                                                                               emulated):
    """Source 2 numbers its frames from 1 again after its first batch (its readout restarted):
    its fragments disagree with the others' trigger times, are counted as mismatched, and the
    events go out without it, naming it, never with another event's waveforms."""
    _, frames, truth = emulated
    asm = _assembler(detector, timeout_s=0.5)
    batches = []
    for sid, f in frames:
        if sid == 2 and f.kind is FrameKind.EVENTS and f.spill == 1:
            batches.append(int(f.events["event"][0]))
            if len(batches) > 1:  # from its second batch on, numbered from its first again
                f = replace(f, events=f.events.copy())
                f.events["event"] -= batches[1] - batches[0]
        asm.add(sid, f, now=0.0)
        asm.collect(now=0.0)
    events, samples = _built(_drain_out(asm))
    st = asm.stats[2]
    assert st.mismatched > 0
    bit = 1 << detector.source_ids.index(2)
    bad = events["complete"] == 0
    assert bad.any() and (events["missing"][bad] == bit).all()


def test_a_spill_whose_end_a_crate_lost_closes_before_the_next_one(detector, emulated):
    """A crate whose endpoint vanished lost its queued EOS of spill 1: when every crate has
    ended spill 2, none can still be in spill 1, so spill 1 closes first (its events, then
    its EOS naming the crates that reported), then spill 2. Before, spill 1 stayed open to
    the run's end and its EOS came after spill 2's: the writer, which counts a spill's events
    up to its EOS, gave spill 2 both spills' events and spill 1 none."""
    _, frames, _ = emulated
    asm = _assembler(detector)
    for sid, f in frames:
        if f.kind is FrameKind.EOR:
            break  # no run end: what closes spill 1 is spill 2's end
        if not (sid == 3 and f.kind is FrameKind.EOS and f.spill == 1):
            asm.add(sid, f, now=0.0)
    out = _drain_out(asm)
    ends = {o[1]["spill"]: i for i, o in enumerate(out) if o[0] == "EOS"}
    assert list(ends) == [1, 2], ends
    for i, o in enumerate(out):
        if o[0] == "events":  # every event before its own spill's EOS, after the one before
            assert ends.get(o[1]["spill"] - 1, -1) < i < ends[o[1]["spill"]], (i, o[1])
    eos1 = out[ends[1]][1]["info"]["builder"]
    assert eos1["sources_reporting"] == [s for s in detector.source_ids if s != 3]
    assert eos1["built_complete"] == eos1["triggered"] > 0  # its fragments all came
