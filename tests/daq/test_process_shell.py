"""The shell of every DAQ process (``daq/core/process_shell.py``): the commands it is sent."""

import json

import pytest
import zmq
from conftest import wait_until

from daq.core.process_shell import ProcessShell, command_topic

pytestmark = pytest.mark.timeout(60)


def test_a_process_is_sent_only_the_commands_addressed_to_it(tmp_path):
    """The supervisor's state for the tap, every second, once queued in every crate (which
    reads commands only at a stop): the PUB must not send a process what is not its."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.bind(f"ipc://{tmp_path}/commands")
    pull = ctx.socket(zmq.PULL)
    pull.bind(f"ipc://{tmp_path}/heartbeat")
    shell = ProcessShell("source-2", f"ipc://{tmp_path}/heartbeat", f"ipc://{tmp_path}/commands",
                         1.0, context=ctx)

    def send(to, cmd, **kw):
        pub.send_multipart([command_topic(to), json.dumps(dict(kw, to=to, cmd=cmd)).encode()])

    try:  # the subscription reaches the PUB a moment after the connect: wait for it
        assert wait_until(lambda: (send("source-2", "hello"), shell.commands.poll(50))[1], 10)
        while shell.command() is not None:
            pass
        for name in ("tap", "source-20", "worker-1", "sources"):
            send(name, "daq_state", state={"big": "x" * 10_000})
        for to in ("source", "all", "source-2"):
            send(to, "end_after_spill", spill=3)
        came = []  # what reached the process's socket, read raw
        while not came or came[-1] != command_topic("source-2"):
            assert shell.commands.poll(5000), came
            came.append(shell.commands.recv_multipart()[0])
        assert came == [command_topic(to) for to in ("source", "all", "source-2")]
    finally:
        shell.close(final_beat=False)
        for s in (pub, pull):
            s.close(0)
        ctx.term()
