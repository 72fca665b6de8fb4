"""What a run takes, in words: an emulated run names every fault and boost, so that nobody
takes them for the detector's."""

from daq.core.config_schema import load
from daq.processes.daq_config import DaqConfig
from daq.processes.run_description import describe, emulated_departures


def test_an_emulated_run_names_its_faults_and_boosts():
    cfg = load(DaqConfig, None, {
        "emulator.spill.time_compressed": False, "emulator.spill.pace": 4.0,
        "emulator.run.spills": 3, "emulator.classes.dimuon_boost": 2e5,
        "emulator.faults.at_spill": 7, "emulator.faults.until_spill": 9,
        "emulator.faults.dead_channel": "ECAL1:2:3", "emulator.faults.gain_channel": "HCAL0:1:1",
        "emulator.faults.gain_drop_fraction": 0.05, "emulator.faults.stop_source": 3})
    text = describe(cfg)
    assert text.startswith("emulated crates, 100 GeV electrons, 5e+06 per spill, 3 spills at "
                           "4 x the beam's pace; EMULATED ")
    assert emulated_departures(cfg) == [
        "dimuon yield x200000", "fault: dead channel ECAL1:2:3 from spill 7 to 8",
        "fault: gain drop 5% in HCAL0:1:1 from spill 7 to 8",
        "fault: crate 3 stops sending from spill 7 to 8"]


def test_faults_never_switched_on_and_other_sources_say_nothing_emulated():
    cfg = load(DaqConfig, None, {"emulator.classes.dimuon_boost": 1.0,
                                 "emulator.faults.dead_channel": "ECAL1:2:3"})  # at_spill 0
    assert emulated_departures(cfg) == [] and "EMULATED" not in describe(cfg)
    external = load(DaqConfig, None, {"run.sources": "external",
                                      "emulator.faults.at_spill": 1,
                                      "emulator.faults.dead_channel": "ECAL1:2:3"})
    assert describe(external) == "external sources (the crates' own readout)"


def test_a_replay_is_described_by_its_file_not_by_the_emulators_beam(tmp_path):
    from daq.core.config_schema import load
    from daq.processes.daq_config import DaqConfig
    from daq.processes.run_description import describe

    raw = tmp_path / "cdr01001-000007.dat"
    raw.write_bytes((68).to_bytes(4, "little") + (0xDA1E5AFE).to_bytes(4, "little"))
    text = describe(load(DaqConfig, None, {"run.sources": "replay",
                                           "run.replay_file": str(raw)}))
    assert text == f"replay of {raw} (NA64 raw data, DATE), as fast as the DAQ takes"
    assert "GeV" not in text and "per spill" not in text
