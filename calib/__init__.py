"""Calibration: conditions database, HV tables and the logbook."""
