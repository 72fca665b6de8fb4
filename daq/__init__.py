"""na64daq core: detector model, configuration, wire format and the command line."""
