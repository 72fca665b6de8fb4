"""Reading where a process is stuck from the stacks it wrote to its log (faulthandler's
format, as a worker of a running DAQ wrote it, paths shortened)."""

from daq.core.stack_dump import stuck_at

EARLIER = """\
Current thread 0x00007f69eba48b80 (most recent call first):
  File "/venv/lib/python3.11/site-packages/emulator/publisher.py", line 159 in _run
  File "<frozen runpy>", line 198 in _run_module_as_main
"""

WORKER = """\
Thread 0x00007fcfb7fff6c0 (most recent call first):
  File "/venv/lib/python3.11/site-packages/zmq/utils/garbage.py", line 56 in run
  File "/usr/lib/python3.11/threading.py", line 1045 in _bootstrap_inner
  File "/usr/lib/python3.11/threading.py", line 1002 in _bootstrap

Current thread 0x00007fcfe30b3b80 (most recent call first):
  File "/venv/lib/python3.11/site-packages/zmq/sugar/poll.py", line 106 in poll
  File "/venv/lib/python3.11/site-packages/daq/processes/worker.py", line 90 in main
  File "/venv/lib/python3.11/site-packages/daq/processes/main.py", line 40 in main
  File "/venv/lib/python3.11/site-packages/daq/processes/main.py", line 52 in <module>
  File "<frozen runpy>", line 88 in _run_code
  File "<frozen runpy>", line 198 in _run_module_as_main
"""


def test_the_main_thread_of_the_last_dump_is_named_with_the_frame_of_ours_that_called():
    assert stuck_at("worker-1 started\n" + EARLIER + "batch 3\n" + WORKER) == \
        "poll (poll.py:106), called from main (worker.py:90)"


def test_a_frame_of_ours_innermost_is_named_alone_and_lines_after_a_dump_are_not_frames():
    assert stuck_at(EARLIER + "source-3: ending the run early\n") == "_run (publisher.py:159)"


def test_a_log_without_a_dump_names_nothing():
    assert stuck_at("publishing source 3\n  File \"x.py\", line 1 in f\n") == ""
    assert stuck_at("") == ""
