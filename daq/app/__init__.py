"""The ``na64daq`` command line and its tools: the top tier, composing everything below."""
