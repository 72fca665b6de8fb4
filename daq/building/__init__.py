"""Tier 1: event building, fragments of every source grouped into events (the logic, without
sockets)."""
