"""Tier 1, the vocabulary every package shares: the detector map, the configuration schema, the
wire format, records and their dtypes, heartbeats, the run database and the process shell."""
