"""One module per ``na64daq`` command: ``add_arguments(sub)`` declares it, ``run(args)`` does it."""
