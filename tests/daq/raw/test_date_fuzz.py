"""The decoder against bad input (hypothesis): random bytes and mutated valid files never
crash it, never hang it, and every rejection is counted with its reason."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daq.raw import date_format as F
from daq.raw.date_decoder import DateReader, Tallies, decode_words
from daq.raw.fuzzing import mutate, valid_file

pytestmark = pytest.mark.timeout(600)


def _decode_bytes(data: bytes):
    """``data`` decoded as a whole file (one window, at its end); (event offsets, digits,
    samples, problems counted, words used, swapped)."""
    tallies = Tallies()
    w = np.frombuffer(data[: len(data) // 4 * 4], dtype="<u4")
    decoded, used, swapped = decode_words(w, 0, True, tallies)
    return (decoded.events["offset"], len(decoded.digits), len(decoded.samples),
            tallies.counts, used, swapped)


def _boundaries(words: np.ndarray) -> set[int]:
    """Byte offsets where the events of a valid file start and end."""
    out, p = {0}, 0
    while p < len(words):
        p += int(words[p]) // 4
        out.add(4 * p)
    return out


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31), st.integers(0, 2**31))
def test_mutated_files_are_decoded_or_refused_with_a_reason(seed, how):
    valid = valid_file(seed)
    offsets, n_dig, n_samp, counts, used, swapped = _decode_bytes(valid.tobytes())
    assert counts.sum() == counts[F.P_MISSING_MODULE]  # the valid file: nothing else wrong
    data = mutate(valid, how)
    offsets, n_dig, n_samp, counts, used, swapped = _decode_bytes(data)
    # bounded whatever the sizes claim; events in order, inside the data
    assert 0 <= used <= len(data) // 4 and n_dig <= len(data) // 4 + 1
    assert n_samp <= 2 * (len(data) // 4)
    assert np.all(np.diff(offsets) > 0) and np.all(offsets < max(len(data), 1))
    # a file cut inside an event says so (a cut between events is a shorter valid file)
    if len(data) < 4 * len(valid) and valid.tobytes().startswith(data) \
            and len(data) not in _boundaries(valid):
        assert counts[F.P_TRUNCATED] + counts[F.P_TRAILING] + counts[F.P_MAGIC] \
            + counts[F.P_EVENT_SIZE] >= 1 or len(data) % 4


@settings(max_examples=2000, deadline=None)
@given(st.binary(min_size=0, max_size=4096))
def test_random_bytes_never_crash_the_decoder(data):
    offsets, n_dig, n_samp, counts, used, swapped = _decode_bytes(data)
    # without the magic nothing is an event; whatever is not an event is counted
    if b"\xfeZ\x1e\xda" not in data:
        assert len(offsets) == 0 and (len(data) < 8 or counts[F.P_MAGIC] >= 1 or swapped)


def test_the_reader_over_a_damaged_file_counts_and_goes_on(tmp_path):
    path = tmp_path / "damaged.dat"
    good = valid_file(5).tobytes()
    path.write_bytes(good + mutate(valid_file(6), 2) + good)
    reader = DateReader(path)
    parts = list(reader)
    events = sum(len(p.events) for p in parts)
    assert events >= 2 * len(DateReader_events(good, tmp_path))
    assert reader.report.counts  # the damage is said


def DateReader_events(data, tmp_path):  # noqa: N802 - a helper named for what it reads
    path = tmp_path / "one.dat"
    path.write_bytes(data)
    return [e for p in DateReader(path) for e in p.events]
