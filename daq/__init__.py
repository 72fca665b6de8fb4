"""na64daq's DAQ in three tiers (``docs/architecture.md``): the foundation (``core``, ``reco``,
``building``, ``conditions``, ``run_file``), and on top the processes (``processes``) and the
command line (``app``)."""
