"""NA64's raw data through the whole DAQ: a DATE file replayed as our crates' frames (real
processes, real sockets), every event written, the samples those of the file; its channel map
with NA64's detector names and its trigger bits as the configuration gives them."""

import numpy as np
import pytest
from conftest import run_to_end

from daq.raw.channel_map import EMULATED_MAP, ChannelMap
from daq.raw.date_decoder import DateReader
from daq.raw.digit_assembly import Assembly, assemble
from daq.run_file import layout as L
from daq.run_file.reader import RunReader
from emulator.date_export import write_date

pytestmark = pytest.mark.timeout(300)


def test_a_date_file_replayed_through_the_daq_is_written_event_for_event(
        daq, tmp_path, make_emulator, detector):
    em = make_emulator(**{"spill.duration_s": 0.1, "trigger.physics_rate_hz": 3000.0,
                          "run.number": 77})
    raw = tmp_path / "cdr01001-000077.dat"
    write_date(em, raw, [1, 2])
    state, cmap = Assembly(), ChannelMap.load(EMULATED_MAP, detector)
    parts = [assemble(p, cmap, state) for p in DateReader(raw)]
    expected_events = np.concatenate([p[0] for p in parts])
    expected_samples = np.concatenate([p[1] for p in parts])
    sent = np.concatenate([b.built_events() for s in (1, 2) for b in em.batches(em.spill_plan(s))])
    renamed = tmp_path / "renamed.xml"  # the main ECAL as NA64's maps might call it
    renamed.write_text(EMULATED_MAP.read_text().replace("  ECAL1 ", "  ECALMAIN "))
    sup = daq(**{"run.sources": "replay", "run.replay_file": str(raw),
                 "run.replay_map": str(renamed), "run.replay_names": "ECALMAIN=ECAL1",
                 "run.replay_trigger_bits": "0=calibration,1=physics,2=random,3=led",
                 "reco.pulses.trigger_phase": "unknown"})
    ledger = run_to_end(sup)
    assert sup.outcome == "stopped" and ledger["balanced"], sup.error
    assert ledger["triggered"] == ledger["written_complete"] == len(expected_events)
    with RunReader(sup.procs["writer"].counters["file"]) as run:
        events, samples = run.column(L.EVENTS), run.column(L.SAMPLES)
        spills = run.spills()
    order = np.lexsort((events["event"], events["spill"]))
    assert np.array_equal(events[order][["spill", "event"]],
                          expected_events[["spill", "event"]])
    sent_kind = sent["trigger"][np.lexsort((sent["event"], sent["spill"]))]
    assert (sent_kind == 1).sum() > 100 and (sent_kind == 2).sum() > 5
    assert np.array_equal(events[order]["trigger"], np.choose(sent_kind, [0, 2, 1, 3, 4]))
    assert np.array_equal(samples[order], expected_samples)
    assert spills["spill"].tolist() == [1, 2]
