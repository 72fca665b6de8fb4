"""The DATE/S-Link/MSADC layout's constants, the decoded records' types, and the reasons a
structure is refused (``docs/raw-format.md``)."""

from __future__ import annotations

import numpy as np

MAGIC = 0xDA1E5AFE
SWAPPED_MAGIC = 0xFE5A1EDA
SWAPPED_FLAG = 0x00020000
VERSION_306 = 0x00030006
VERSION_314 = 0x0003000E
#: header flavours, as the decoder reports them
OLD, V306, V314 = 0, 1, 2
HEADER_WORDS = {OLD: 20, V306: 17, V314: 20}

START_OF_RUN, END_OF_RUN, START_OF_BURST, END_OF_BURST, PHYSICS, CALIBRATION = 1, 2, 5, 6, 7, 8
DATA_TYPES = (END_OF_BURST, PHYSICS, CALIBRATION)
MULTIPLEXER_FIRST_SOURCE = 896  # source ids 896-1023 hold sub-blocks
EQUIPMENT_WORDS = 7  # DATE 3.x; the old equipment header is 3 words
MAX_EVENT_BYTES = 4 << 20  # an event claiming more is refused whatever its size field says

#: reason code -> name, for every structure the decoder refuses or flags
PROBLEMS = ("bad magic", "event size", "truncated", "header length", "version",
            "equipment size", "s-link size", "multiplexer sizes", "s-link event", "adc event",
            "adc block size", "missing module", "channel header", "data word", "sub-event",
            "trailing bytes")
(P_MAGIC, P_EVENT_SIZE, P_TRUNCATED, P_HEADER_LENGTH, P_VERSION, P_EQUIPMENT, P_SLINK_SIZE,
 P_MULTIPLEXER, P_SLINK_EVENT, P_ADC_EVENT, P_ADC_SIZE, P_MISSING_MODULE, P_CHANNEL_HEADER,
 P_DATA_WORD, P_SUB_EVENT, P_TRAILING) = range(len(PROBLEMS))

#: one row per DATE event (``flags`` bit k: a problem of code k inside it)
EVENT_DTYPE = np.dtype([("offset", "<i8"), ("type", "u1"), ("header", "u1"), ("run", "<u4"),
                        ("burst", "<u4"), ("event_in_run", "<u4"), ("event_in_burst", "<u4"),
                        ("trigger_mask", "<u8"), ("time_s", "<u4"), ("time_us", "<u4"),
                        ("first_digit", "<i8"), ("n_digits", "<i4"), ("flags", "<u4")])
#: one row per channel read out: its key, and where its samples are
DIGIT_DTYPE = np.dtype([("event", "<i8"), ("source", "<u2"), ("port", "u1"), ("chip", "u1"),
                        ("channel", "u1"), ("n_samples", "<u2"), ("first_sample", "<i8")])


class RawFormatError(ValueError):
    """A file that is not a DATE raw file at all (or byte-swapped)."""
