"""Fixtures of the monitor's tests."""

import numpy as np
import pytest

from monitor.histograms import HistogramFiller


@pytest.fixture
def filler(detector):
    gev = np.full(detector.n_channels, 0.01)
    return HistogramFiller(detector, gev, 100.0, 50.0, 1.0, blinded=True)
