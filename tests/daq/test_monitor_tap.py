"""The monitor tap as a process: known events pushed through its loopback sockets come back in
its snapshots, in the right bins, with the box left out."""

import json
import subprocess
import sys
import time

import numpy as np
import zmq
from known_events import KNOWN_EVENTS, known_batch

from daq.core import built_batch
from daq.core.config_schema import load, to_dict
from daq.processes.daq_config import DaqConfig
from monitor import snapshot as proto


def test_known_events_through_the_tap_process(tmp_path, detector, private_endpoints):
    values = {f"endpoints.{k}": v for k, v in private_endpoints.items()}
    values["tap.publish_hz"] = 10.0
    cfg = load(DaqConfig, None, values)
    config = tmp_path / "daq.json"
    config.write_text(json.dumps(to_dict(cfg)))
    tap = subprocess.Popen([sys.executable, "-m", "daq.processes.main", "tap", "tap",
                            str(config), ""])
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)
        push.connect(cfg.endpoints.tap)
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(cfg.endpoints.tap_publish)
        repeat, n_batches = 5, 4
        events, reco, channels = known_batch(detector, repeat)
        n = len(events)
        samples = np.zeros((1, detector.n_channels, detector.samples_per_channel), np.uint16)
        for seq in range(n_batches):
            header = {"seq": seq, "kind": "events", "run": 3, "spill": 1, "n_events": n,
                      "t_first_fragment": time.time(), "waveform_rows": [0]}
            push.send_multipart(built_batch.encode(header, events, samples, reco, channels))
        deadline = time.monotonic() + 60
        snap = None
        while time.monotonic() < deadline:
            if sub.poll(200):
                snap = proto.decode(sub.recv_multipart())
                if snap.header["counters"]["taken"] == n_batches * (n - repeat):
                    break
        assert snap is not None and snap.header["run"] == 3
        k = repeat * n_batches
        plane = snap.hist("energy_plane")
        assert plane[10, 3] == plane[80, 19] == plane[99, 0] == k
        assert plane.sum() == 3 * k
        assert snap.hist("classes")[4] == 0  # the box, blinded
        assert snap.hist("triggers").sum() == k * (len(KNOWN_EVENTS) - 1)
        assert snap.hist("energy_plane", "spill").sum() == 3 * k
    finally:
        tap.terminate()
        tap.wait(10)
        ctx.destroy(linger=0)


def test_a_replayed_file_is_not_held_to_the_emulators_yields(detector, tmp_path):
    """NA64's raw data replayed: the dimuon band comes from the run's own baseline, never
    from the emulator's probability x boost (docs/monitor.md)."""
    from daq.core.config_schema import load
    from daq.processes.daq_config import DaqConfig
    from daq.processes.tap import histogram_server

    emulated = histogram_server(load(DaqConfig, None, {}), detector)
    replayed = histogram_server(load(DaqConfig, None, {
        "run.sources": "replay", "run.replay_file": str(tmp_path / "x.dat")}), detector)
    assert emulated.reference_for(None).get("dimuons_per_eot", 0) > 0
    assert "dimuons_per_eot" not in replayed.reference_for(None)
