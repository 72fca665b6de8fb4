"""What a channel's ``flags`` (bits of the per-channel record) say about its pulses."""

NO_PULSE = 1
SATURATED = 2
PILEUP = 4
PEDESTAL_FALLBACK = 8
BAD_CHANNEL = 16  # flat: all zero, all full scale, or constant
MISSING = 32  # its readout source did not deliver this event
FIT_FAILED = 64
OUT_OF_TIME = 128  # pulses, but none in time

FLAG_NAMES = {NO_PULSE: "no_pulse", SATURATED: "saturated", PILEUP: "pileup",
              PEDESTAL_FALLBACK: "pedestal_fallback", BAD_CHANNEL: "bad_channel",
              MISSING: "missing", FIT_FAILED: "fit_failed", OUT_OF_TIME: "out_of_time"}
