"""A real NA64 raw file, when a user points ``NA64_RAW_SAMPLE`` at one (never committed: no
public NA64 raw file exists). Decodes it and prints the digest of what was read."""

import hashlib
import os
from pathlib import Path

import pytest

from daq.raw.date_decoder import DateReader

SAMPLE = os.environ.get("NA64_RAW_SAMPLE")
pytestmark = [pytest.mark.timeout(1800),
              pytest.mark.skipif(not SAMPLE, reason="NA64_RAW_SAMPLE does not point to a real "
                                 "NA64 raw file (cdrNNNNN-RRRRRR.dat); none is public")]


def test_a_real_raw_file_decodes_and_its_digest_is_printed():
    reader = DateReader(Path(SAMPLE))
    h = hashlib.sha256()
    events = digits = 0
    for part in reader:
        events += len(part.events)
        digits += len(part.digits)
        h.update(part.events.tobytes())
        h.update(part.digits.tobytes())
        h.update(part.samples.tobytes())
    print(f"{SAMPLE}: {events} DATE events, {digits} digits, problems {reader.report.counts}, "
          f"missing modules {len(reader.report.missing_modules)}; digest {h.hexdigest()}")
    assert events > 0
