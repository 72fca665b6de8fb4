"""The live reach against a hand computation from [004] Table IV, and the panel that shows it,
labelled a projection."""

import os

import numpy as np
import pytest

from monitor import reach
from monitor import snapshot as proto
from monitor.histogram_server import HistogramServer


def test_the_projection_against_table_iv_by_hand():
    # 100 MeV: 5.3e-4 with 4.3e10 EOT at efficiency 0.50. A tenth of the EOT at half the
    # efficiency: sqrt(4.3e10 x 0.5 / (4.3e9 x 0.25)) = sqrt(20) worse
    eps = reach.projected_limit(4.3e9, 0.25)
    assert eps[list(reach.MASSES_MEV).index(100.0)] == pytest.approx(5.3e-4 * np.sqrt(20))
    assert reach.projected_limit(4.3e10, 0.50) == pytest.approx(reach.EPSILON_LIMIT)
    # to reach 5.3e-4 at 100 MeV with efficiency 0.25: 8.6e10 EOT, 4.3e9 already taken
    need = reach.eot_needed(5.3e-4, 0.25, 4.3e9)
    assert need[list(reach.MASSES_MEV).index(100.0)] == pytest.approx(8.6e10 - 4.3e9)
    assert need[0] == 0.0  # at 1.1 MeV: 8.6e10 x (0.21 / 5.3)^2 = 1.4e8 EOT, already taken
    assert np.isinf(reach.projected_limit(0.0, 0.5)).all()


def _snapshot(detector, filler, eot, tags):
    server = HistogramServer(detector, filler)
    server.run = 3
    server.run_set["calibration_tags"][:] = tags
    server.closed_eot = [eot, (0.01 * eot) ** 2]
    return proto.decode(server.snapshot())


def test_the_efficiency_is_the_product_of_its_parts(detector, filler):
    snap = _snapshot(detector, filler, 1e9, [1000, 950, 900, 940, 990])
    e = reach.efficiency(snap)
    assert e["total"] == pytest.approx(0.9 * 0.94 * 0.99)
    assert e["selection_error"] == pytest.approx(np.sqrt(0.9 * 0.1 / 1000))


def test_the_panel_shows_the_projection_for_the_exposure(qtbot, detector, filler):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from monitor.panels.reach import PROJECTION, ReachPanel

    snap = _snapshot(detector, filler, 4.3e9, [1000, 950, 500, 1000, 500])  # efficiency 0.25
    panel = ReachPanel()
    qtbot.addWidget(panel)
    panel.target.setValue(5.3)  # x 1e-4
    panel.draw(snap)
    x, y = panel.projected.xData, panel.projected.yData  # as given (the plot is log-log)
    assert np.allclose(x, reach.MASSES_MEV)
    assert np.allclose(y, reach.EPSILON_LIMIT * np.sqrt(20))
    row = list(reach.MASSES_MEV).index(100.0)
    assert panel.table.item(row, 3).text() == f"{8.6e10 - 4.3e9:.3g}"
    assert "PROJECTION" in PROJECTION and "4.3e+09" in panel.exposure.text()
