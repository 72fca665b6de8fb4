"""Tier 3: one module per OS process of the DAQ (``main`` starts each by role), and the supervisor
that runs them."""
