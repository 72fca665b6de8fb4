"""The writer's ordering: items are written in the builder's sequence, run by run."""

from daq.core.built_batch import BuiltBatch
from daq.processes.writer import _next_item


def _item(kind):
    return BuiltBatch({"seq": 0, "kind": kind}, None, None)


def test_waits_for_the_next_sequence_number():
    buffer = {(1, 3): _item("events"), (1, 5): _item("events")}
    assert _next_item(buffer, 1, 3, 1) == (1, 3)
    assert _next_item(buffer, 1, 4, 1) is None  # 4 is still with a worker


def test_a_new_runs_data_arriving_before_its_start_waits_for_it():
    buffer = {(2, 2): _item("events")}  # overtook the SOR marker
    assert _next_item(buffer, None, 1, 2) is None
    buffer[(2, 1)] = _item("SOR")
    assert _next_item(buffer, None, 1, 2) == (2, 1)


def test_a_failed_run_gives_way_to_the_next_one():
    buffer = {(3, 1): _item("SOR")}
    assert _next_item(buffer, 2, 40, 3) == (3, 1)  # run 2 never ended
    assert _next_item({(2, 1): _item("SOR")}, 2, 40, 3) is None  # not an older one


def test_only_the_run_the_supervisor_started_may_open():
    buffer = {(999, 1): _item("SOR")}  # pushed by someone else
    assert _next_item(buffer, None, 1, None) is None  # no run commanded
    assert _next_item(buffer, None, 1, 4) is None  # another run commanded
    buffer[(4, 1)] = _item("SOR")
    assert _next_item(buffer, None, 1, 4) == (4, 1)
