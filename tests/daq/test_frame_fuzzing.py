"""Fuzzed frames against the decoder: every refusal is a named check, never the catch-all
(a check that is missing), and what passes is a self-consistent frame."""

from __future__ import annotations

from collections import Counter

import pytest

from daq.core.frame_fuzzing import fuzz, mutate, valid_frame
from daq.core.wire_format import FrameError, FrameKind, decode


def test_valid_frames_are_valid_and_mutations_are_reproducible(detector):
    for seed in range(200):
        frame = decode(valid_frame(detector, seed), detector)
        assert frame.source_id in detector.source_ids
        assert mutate(valid_frame(detector, seed), seed) == mutate(valid_frame(detector, seed),
                                                                  seed)


@pytest.mark.timeout(300)
def test_three_thousand_fuzzed_frames_are_refused_by_named_checks(detector):
    refused: Counter = Counter()
    valid = []

    def consume(parts):
        try:
            frame = decode(parts, detector)
        except FrameError as exc:
            refused[exc.reason] += 1
        else:
            valid.append(frame)

    fuzz(detector, 3000, consume)
    assert sum(refused.values()) + len(valid) == 3000
    assert "undecodable" not in refused, refused
    # the mutations reach the checks behind both checksums, not only the checksums
    for deep in ("payload checksum", "header checksum", "channel count", "exceeds the ADC range",
                 "info", "source id"):
        assert refused[deep] > 0, (deep, refused)
    assert len(valid) < 0.1 * 3000  # a mutation that changed only a free field (run, time)
    for frame in valid:
        assert frame.source_id in detector.source_ids
        if frame.kind is FrameKind.EVENTS:
            assert frame.samples.shape == (frame.n_events, frame.n_channels, frame.n_samples)
            assert frame.samples.max() < 4096
        else:
            assert frame.n_events == 0 and isinstance(frame.info, dict)
