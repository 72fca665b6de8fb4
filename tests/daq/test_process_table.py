"""The supervisor's process table: real children, a real heartbeat socket."""

import json
import os
import signal

import pytest
import zmq
from conftest import wait_until

from daq.processes.process_table import ProcessTable

pytestmark = pytest.mark.timeout(60)

# a child that heartbeats once with the token it was given, says so, and ignores SIGTERM
CHILD = """
import os, signal, sys, time, zmq
from daq.core import heartbeat
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sock = zmq.Context().socket(zmq.PUSH)
sock.connect(sys.argv[1])
sock.send(heartbeat.message(sys.argv[2], {"beats": 1, "db": os.environ["NA64DAQ_DB"]}))
print("sent", flush=True)
time.sleep(60)
"""


def open_files() -> set[str]:
    """What this process holds open (the supervisor keeps no child's log open)."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the listing's own descriptor, closed meanwhile
            pass
    return out


@pytest.fixture
def table_and_socket(tmp_path):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    endpoint = f"ipc://{tmp_path}/heartbeat"
    sock.bind(endpoint)
    table = ProcessTable(tmp_path, {"NA64DAQ_DB": str(tmp_path / "own.db")})
    yield table, sock, endpoint
    table.remove_all(0.1)
    ctx.destroy(linger=0)


def test_a_child_is_heard_with_its_token_and_killed_when_it_ignores_sigterm(table_and_socket,
                                                                             tmp_path):
    table, sock, endpoint = table_and_socket
    proc = table.spawn("worker", "worker-1", ["-c", CHILD, endpoint, "worker-1"])
    assert wait_until(lambda: (table.take_heartbeats(sock, 0.05), proc.last_beat > 0)[1])
    assert proc.counters == {"beats": 1, "db": str(tmp_path / "own.db")}
    assert table.role("worker") == [proc] and "worker-1" in table
    assert wait_until(lambda: "sent" in (tmp_path / "worker-1.log").read_text())
    table.remove(proc, 0.2)  # SIGTERM is ignored: SIGKILL after 0.2 s
    assert proc.popen.returncode == -signal.SIGKILL
    assert "worker-1" not in table and str(tmp_path / "worker-1.log") not in open_files()


def test_heartbeats_with_a_wrong_token_or_name_are_counted_and_not_believed(table_and_socket):
    table, sock, endpoint = table_and_socket
    proc = table.spawn("tap", "tap", ["-c", "import time; time.sleep(60)"])
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.connect(endpoint)
    for name, token in (("tap", "not its token"), ("stranger", proc.token)):
        push.send(json.dumps({"name": name, "pid": 1, "token": token,
                              "counters": {"forged": True}}).encode())
    push.send(b"[")
    assert wait_until(lambda: (table.take_heartbeats(sock, 0.05),
                               sum(table.bad_heartbeats.values()) == 3)[1])
    assert table.bad_heartbeats == {"token": 1, "unknown process": 1, "not JSON": 1}
    assert proc.last_beat == 0.0 and proc.counters == {}
    push.close(linger=0)


# a DAQ process (its shell) that beats once, then waits for ever on a lock it holds, in a
# thread-safe deadlock as a signal handler could make one; a helper thread lives on
HANGING = """
import sys, threading, time
from daq.core.process_shell import ProcessShell

shell = ProcessShell(sys.argv[2], sys.argv[1], None, 1.0)
shell.beat(force=True)
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()


def waits_for_its_own_lock():
    lock = threading.Lock()
    lock.acquire()
    print("hanging", flush=True)
    lock.acquire()


waits_for_its_own_lock()
"""


def test_a_silent_process_says_where_it_is_stuck_and_a_frozen_one_says_nothing(
        table_and_socket, tmp_path):
    table, sock, endpoint = table_and_socket
    proc = table.spawn("worker", "worker-1", ["-c", HANGING, endpoint, "worker-1"])
    assert wait_until(lambda: (table.take_heartbeats(sock, 0.05), proc.last_beat > 0)[1])
    assert wait_until(lambda: "hanging" in (tmp_path / "worker-1.log").read_text())
    assert table.stuck_at(proc) == "waits_for_its_own_lock (<string>:14)"
    assert proc.popen.poll() is None  # asked, not killed
    assert table.stuck_at(proc) == "waits_for_its_own_lock (<string>:14)"  # asked again
    os.kill(proc.popen.pid, signal.SIGSTOP)
    assert table.stuck_at(proc) == ""  # frozen: no answer, and no wait beyond the limit
