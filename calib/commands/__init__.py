"""One module per ``na64daq calib`` script: ``add_arguments(cs)`` declares it,
``run(args, conditions)`` does it."""
