"""From a bin to its events, on a DAQ run (all real processes): a click on a bin of the
saved histograms' energy plane lists events whose energies, read back from the run file,
lie in that bin; one opens with its waveforms; "what if" with a proposed calibration moves
the energies as the gain change says."""

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from daq.core import records as er  # noqa: E402
from monitor.event_view import RunEvents, events_in_bin, plane_bin  # noqa: E402
from monitor.histograms import PLANE_GEV  # noqa: E402

WIDTH_GEV = (PLANE_GEV[1] - PLANE_GEV[0]) / PLANE_GEV[2]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, detector):
    """A 2-spill DAQ run: its run file and its saved monitor histograms."""
    from conftest import FIXED_PHYSICS, free_base_port, private_endpoint_values, run_to_end

    from daq.core.config_schema import load
    from daq.core.run_database import RunDatabase
    from daq.processes.daq_config import DaqConfig
    from daq.processes.supervisor import Supervisor

    tmp = tmp_path_factory.mktemp("demo")
    (tmp / "ipc").mkdir()
    values = {f"endpoints.{k}": v for k, v in private_endpoint_values(tmp / "ipc").items()}
    values.update({"emulator.publish.base_port": free_base_port(max(detector.source_ids)),
                   "writer.directory": str(tmp / "runs"), "emulator.spill.duration_s": 1.0,
                   **{f"emulator.{k}": v for k, v in FIXED_PHYSICS.items()},
                   "emulator.run.spills": 2, "tap.end_of_run_png": False})
    sup = Supervisor(load(DaqConfig, None, values), db=RunDatabase(tmp / "runs.db"),
                     log=lambda m: None)
    try:
        ledger = run_to_end(sup)
        assert ledger["balanced"]
        run = sup.run
    finally:
        sup.close()
    return tmp / "runs" / f"run_{run:06d}.h5", tmp / "runs" / f"run_{run:06d}.monitor.h5"


def _busiest_bins(snap, n=3):
    rows = snap.arrays[("run", "plane_events")]
    bins, counts = np.unique(rows[:, :2], axis=0, return_counts=True)
    return [tuple(int(x) for x in b) for b in bins[np.argsort(counts)[::-1][:n]]]


def test_a_click_on_a_bin_lists_events_that_lie_in_it(qtbot, demo_run):
    from monitor.feeds import SavedFeed
    from monitor.window import MonitorWindow

    run_file, saved = demo_run
    feed = SavedFeed(saved).start()
    from conftest import wait_until

    assert wait_until(lambda: feed.latest is not None)
    window = MonitorWindow(feed, RunEvents(run_file).detector, remember=False)
    qtbot.addWidget(window)
    window.resize(1600, 950)
    window.show()
    window.redraw()
    overview = window.panel("Overview")
    for i, j in _busiest_bins(feed.latest):
        # click the bin's centre on screen: through the plot's own mapping, as a user does
        centre = overview.plane_plot.vb.mapViewToScene(
            _point((i + 0.5) * WIDTH_GEV, (j + 0.5) * WIDTH_GEV))
        view = overview.plane
        with qtbot.waitSignal(overview.bin_clicked, timeout=2000) as clicked:
            qtbot.mouseClick(view.viewport(), _left(), pos=view.mapFromScene(centre))
        assert tuple(clicked.args) == (i, j)
        dialog = window.events_dialog
        assert dialog is not None and 1 <= len(dialog.events) <= 4
        for e in dialog.events:  # energies from the run file, not from the tap
            assert plane_bin(float(e.reco["e_ecal_gev"]),
                             float(e.reco["e_hcal_gev"][:2].sum())) == (i, j)
            assert e.events["trigger"] in (1, 2)  # beam triggers only in the plane
        assert dialog.list.rowCount() == len(dialog.events)
        assert len(dialog.waveforms.getPlotItem().listDataItems()) >= 2  # samples and fit
        dialog.close()
    feed.stop()


def test_what_if_moves_the_energies_as_the_proposed_gain_says(demo_run, tmp_path):
    """Every ECAL gain 10 % lower (ADC per GeV / 1.1): E_ECAL 10 % higher, E_HCAL as before."""
    from daq.core.config_schema import ConfigError
    from monitor.event_view import read_proposal
    from monitor.saved_histograms import load

    run_file, saved = demo_run
    snap = load(saved)
    run = RunEvents(run_file)
    i, j = _busiest_bins(snap, 1)[0]
    events = run.find(events_in_bin(snap, i, j))
    assert events and {(e.spill, e.event) for e in events} == set(events_in_bin(snap, i, j))
    d = run.detector
    lines = [f'"{d.channels[k].name}" = {1.0 / run.constants.gev_per_adc[k] / 1.1}'
             for k in d.ecal]
    proposal = tmp_path / "gains.toml"
    proposal.write_text("\n".join(lines) + "\n")
    rows = run.what_if(events, read_proposal(proposal, d))
    assert len(rows) == len(events)
    # before the proposal: the run's own values, bit for bit (its recorded learnt state)
    assert [r["e_ecal_gev"][0] for r in rows] == [float(e.reco["e_ecal_gev"]) for e in events]
    for r in rows:
        (ecal, ecal_new), (hcal, hcal_new) = r["e_ecal_gev"], r["e_hcal_gev"]
        assert ecal_new == pytest.approx(1.1 * ecal, rel=2e-3, abs=0.01)
        assert hcal_new == pytest.approx(hcal, abs=1e-4)
    run.close()
    bad = tmp_path / "bad.toml"
    bad.write_text('"ECAL1:3:3" = -3\n')
    with pytest.raises(ConfigError, match="must be > 0"):
        read_proposal(bad, d)
    assert er.SIGNAL_BOX not in {int(e.reco["event_class"]) for e in events}


def _point(x, y):
    from PyQt5 import QtCore

    return QtCore.QPointF(x, y)


def _left():
    from PyQt5 import QtCore

    return QtCore.Qt.LeftButton
