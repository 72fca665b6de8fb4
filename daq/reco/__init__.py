"""Reconstruction: pedestals, pulses, pileup, calibration, sums, SRD tag and event classes, on
batches of events; the same code online (workers), in replay and offline. See
``docs/reconstruction.md``."""
