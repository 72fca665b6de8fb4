"""A real worker process between a builder and a writer played by the test: a batch is
acknowledged to the builder only once it has left for the writer (a worker killed after its
acknowledgement must not take the batch with it)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import zmq

from daq.core import built_batch
from daq.core.config_schema import load, to_dict
from daq.processes.daq_config import DaqConfig, ipc_endpoints

pytestmark = pytest.mark.timeout(120)


def test_a_small_batch_is_acknowledged_only_once_it_has_left_for_the_writer(tmp_path,
                                                                           detector):
    cfg = load(DaqConfig, None, {**ipc_endpoints(tmp_path), "workers.reconstruction": "stub",
                                 "run.heartbeat_s": 0.2})
    config = tmp_path / "daq.json"
    config.write_text(json.dumps(to_dict(cfg)))
    ctx = zmq.Context()
    builder = ctx.socket(zmq.ROUTER)
    builder.bind(cfg.endpoints.builder_work)
    beats = ctx.socket(zmq.PULL)
    beats.bind(cfg.endpoints.heartbeat)
    worker = subprocess.Popen([sys.executable, "-m", "daq.processes.main", "worker", "worker-1",
                               str(config)], env=dict(os.environ,
                                                      NA64DAQ_DB=str(tmp_path / "r.db")))
    try:
        assert builder.poll(90_000), "the worker never asked for work"
        ident, kind, _ = builder.recv_multipart()
        assert kind == b"ready"
        events = np.zeros(2, built_batch.BUILT_DTYPE)  # two events: every part under 64 kB
        events["event"] = [1, 2]
        samples = np.full((2, detector.n_channels, detector.samples_per_channel), 100,
                          np.uint16)
        builder.send_multipart([ident, *built_batch.encode(
            {"seq": 1, "kind": "events", "run": 1, "spill": 1, "n_events": 2}, events,
            samples)])

        def batches() -> int:
            msg = json.loads(beats.recv())
            return msg["counters"].get("batches", 0)

        while batches() < 1:  # its heartbeat after the batch: its ack loop has run since
            pass
        assert not builder.poll(0), "acknowledged before the batch left for the writer"
        writer = ctx.socket(zmq.PULL)  # the writer comes: the batch leaves, then the ack
        writer.bind(cfg.endpoints.writer)
        assert writer.poll(30_000)
        result = built_batch.decode(writer.recv_multipart(), detector.n_channels,
                                    detector.samples_per_channel)
        assert result.header["seq"] == 1 and len(result.events) == 2
        assert builder.poll(30_000)
        assert builder.recv_multipart()[1:] == [b"done", b"1"]
    finally:
        worker.kill()
        worker.wait()
        ctx.destroy(linger=0)
