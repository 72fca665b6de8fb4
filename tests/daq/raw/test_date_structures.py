"""Each structure of NA64's raw format (section 7 of the reference) in a file the writer makes,
and each damage counted with its reason (``docs/raw-format.md``)."""

import numpy as np
import pytest

from daq.raw import date_format as F
from daq.raw import date_writer as W
from daq.raw.date_decoder import DateReader

pytestmark = pytest.mark.timeout(120)
RUN, BURST = 4242, 3


def _file(tmp_path, *events):
    path = tmp_path / "cdr01001-004242.dat"
    with W.DateFileWriter(path) as out:
        for e in events:
            out.write(e)
    return path


def _decode(path):
    reader = DateReader(path)
    parts = list(reader)
    return (np.concatenate([p.events for p in parts]),
            [(p, d) for p in parts for d in p.digits], reader.report)


def _samples(part, digit):
    return part.samples[digit["first_sample"]:digit["first_sample"] + digit["n_samples"]]


def _physics(header, event, payload, **kw):
    return W.date_event(header, F.PHYSICS, RUN, BURST, event + 1, event, payload, **kw)


def _equipment(source, event, blocks, old=False):
    return W.equipment(W.slink_block(source, event, BURST, np.concatenate(blocks)), source, old)


def test_odd_and_even_sample_counts_and_zero_suppressed_channels(tmp_path):
    rng = np.random.default_rng(3)
    odd, even = rng.integers(0, 4096, 31), rng.integers(0, 4096, 32)
    block = W.adc_block(0, 5, 2, [(1, odd), (14, even)])  # 14 others suppressed
    events, digits, report = _decode(_file(tmp_path, _physics(F.V314, 0,
                                                              _equipment(610, 0, [block]))))
    assert report.counts == {} and len(events) == 1 and events["flags"][0] == 0
    assert [(int(d["port"]), int(d["chip"]), int(d["channel"]), int(d["n_samples"]))
            for _, d in digits] == [(5, 2, 1, 31), (5, 2, 14, 32)]
    assert np.array_equal(_samples(*digits[0]), odd)
    assert np.array_equal(_samples(*digits[1]), even)


def test_a_super_event_of_two_sub_events_and_a_bad_sub_event(tmp_path):
    a = W.date_event(F.V306, F.PHYSICS, RUN, BURST, 8, 7, _equipment(610, 7, [
        W.adc_block(7, 0, 0, [(0, np.arange(32))])]))
    b = W.date_event(F.V306, F.PHYSICS, RUN, BURST, 8, 7, _equipment(611, 7, [
        W.adc_block(7, 1, 0, [(3, np.arange(32))])]))
    stranger = W.date_event(F.V306, F.PHYSICS, RUN, BURST + 1, 8, 7, np.zeros(0, np.uint32))
    good = W.date_event(F.V306, F.PHYSICS, RUN, BURST, 8, 7, np.concatenate([a, b]),
                        super_event=True)
    bad = W.date_event(F.V306, F.PHYSICS, RUN, BURST, 8, 7, np.concatenate([a, stranger]),
                       super_event=True)
    events, digits, report = _decode(_file(tmp_path, good, bad))
    assert [int(d["source"]) for _, d in digits] == [610, 611, 610]
    assert events["flags"][0] == 0 and events["flags"][1] == 1 << F.P_SUB_EVENT
    assert report.counts == {"sub-event": 1}


def test_multiplexed_blocks_and_a_multiplexer_whose_sizes_do_not_add_up(tmp_path):
    subs = [W.slink_block(s, 0, BURST, W.adc_block(0, 0, 0, [(2, np.arange(32))]))
            for s in (620, 621)]
    mux = W.multiplexer(900, 0, BURST, subs)
    broken = mux.copy()
    broken[2] = (broken[2] & ~np.uint32(0xFFFF)) | np.uint32(100)  # a sub-block claims 100 words
    events, digits, report = _decode(_file(
        tmp_path, _physics(F.V314, 0, W.equipment(mux, 1)),
        _physics(F.V314, 0, W.equipment(broken, 1))))
    assert [int(d["source"]) for _, d in digits] == [620, 621]  # none of the broken one
    assert report.counts == {"multiplexer sizes": 1}
    assert events["flags"][1] == 1 << F.P_MULTIPLEXER


def test_a_missing_module_is_counted_by_source_port_and_chip(tmp_path):
    blocks = [W.missing_module(0, 3, 1), W.adc_block(0, 4, 0, [(0, np.arange(32))])]
    events, digits, report = _decode(_file(tmp_path, _physics(F.V314, 0,
                                                              _equipment(610, 0, blocks))))
    assert report.missing_modules == {(610, 3, 1): 1} and len(digits) == 1
    assert events["flags"][0] == 1 << F.P_MISSING_MODULE  # the event is incomplete


def test_event_numbers_that_do_not_match_are_flagged_and_the_data_kept(tmp_path):
    wrong_slink = W.equipment(W.slink_block(610, 9, BURST, W.adc_block(
        0, 0, 0, [(0, np.arange(32))])), 1)
    wrong_adc = _equipment(611, 0, [W.adc_block(5, 0, 0, [(0, np.arange(32))])])
    events, digits, report = _decode(_file(tmp_path, _physics(F.V314, 0, wrong_slink),
                                           _physics(F.V314, 0, wrong_adc)))
    assert len(digits) == 2
    assert report.counts == {"s-link event": 1, "adc event": 1}
    assert events["flags"].tolist() == [1 << F.P_SLINK_EVENT, 1 << F.P_ADC_EVENT]


def test_the_runs_description_block_carries_no_data(tmp_path):
    desc = W.equipment(W.slink_block(610, 0, BURST, np.arange(5, dtype=np.uint32),
                                     format_byte=0x80 | 3), 1)
    events, digits, report = _decode(_file(tmp_path, _physics(F.V314, 0, desc)))
    assert digits == [] and report.counts == {} and events["flags"][0] == 0


@pytest.mark.parametrize("header", [F.OLD, F.V306, F.V314])
def test_bursts_and_event_types_of_every_header(tmp_path, header):
    blocks = [W.adc_block(0, 0, 0, [(0, np.arange(32))])]
    old = header == F.OLD
    events, digits, report = _decode(_file(
        tmp_path,
        W.date_event(header, F.START_OF_RUN, RUN, 0, 0, 0, np.zeros(0, np.uint32)),
        W.date_event(header, F.START_OF_BURST, RUN, BURST, 0, 0, np.zeros(0, np.uint32)),
        _physics(header, 0, _equipment(610, 0, blocks, old)),
        W.date_event(header, F.CALIBRATION, RUN, BURST, 2, 1, _equipment(610, 1, [
            W.adc_block(1, 0, 0, [(0, np.arange(32))])], old), trigger_mask=2),
        W.date_event(header, F.END_OF_BURST, RUN, BURST, 3, 2, np.zeros(0, np.uint32)),
        W.date_event(header, F.END_OF_RUN, RUN, 0, 0, 0, np.zeros(0, np.uint32))))
    assert report.counts == {}
    assert events["type"].tolist() == [1, 5, 7, 8, 6, 2]
    assert set(events["run"].tolist()) == {RUN} and events["burst"][1:5].tolist() == [BURST] * 4
    assert events["event_in_burst"][2:4].tolist() == [0, 1]
    assert events["header"].tolist() == [header] * 6
    assert events["trigger_mask"][3] == (0 if old else 2)
    assert len(digits) == 2


def test_damaged_files_are_counted_with_their_reasons_and_never_raise(tmp_path):
    good = _physics(F.V314, 0, _equipment(610, 0, [W.adc_block(0, 0, 0, [(0, np.arange(32))])]))
    bad_version = good.copy()
    bad_version[3] = 0x00040001
    bad_equipment = good.copy()
    bad_equipment[20] += 4  # the equipment claims one word more than its S-Link block
    garbage = np.arange(7, dtype=np.uint32)  # no magic: the reader resynchronises after it
    truncated = good[: len(good) - 3]
    events, digits, report = _decode(_file(tmp_path, good, bad_version, garbage, good,
                                           bad_equipment, good, truncated))
    assert report.counts == {"version": 1, "bad magic": 1, "equipment size": 1,
                             "truncated": 1}
    # the unknown version's event is skipped; the bad equipment's event kept, flagged
    assert len(digits) == 3 and len(events) == 4
    assert events["flags"].tolist() == [0, 0, 1 << F.P_EQUIPMENT, 0]
    offsets = dict(report.problems)
    assert offsets["version"] == 4 * len(good)


def test_a_byte_swapped_or_foreign_file_is_refused_in_one_line(tmp_path):
    good = _physics(F.V314, 0, np.zeros(0, np.uint32))
    swapped = tmp_path / "swapped.dat"
    swapped.write_bytes(good.byteswap().tobytes())
    with pytest.raises(F.RawFormatError, match="byte-swapped"):
        DateReader(swapped)
    text = tmp_path / "notes.txt"
    text.write_text("not a raw file at all\n")
    with pytest.raises(F.RawFormatError, match="not a DATE raw file"):
        DateReader(text)


def test_a_file_followed_as_date_writes_it_is_read_whole_event_by_event(tmp_path):
    """A writer appends a run in pieces cut anywhere, mid-event too; the reader following the
    file decodes every event once, whole, and stops at the end of run."""
    import threading

    events = [W.date_event(F.V314, F.START_OF_BURST, RUN, BURST, 0, 0, np.zeros(0, np.uint32))]
    events += [_physics(F.V314, e, _equipment(610, e, [W.adc_block(e, 0, 0, [(0, np.arange(32))])]))
               for e in range(40)]
    events.append(W.date_event(F.V314, F.END_OF_RUN, RUN, 0, 0, 0, np.zeros(0, np.uint32)))
    data = np.concatenate(events).tobytes()
    path = tmp_path / "growing.dat"
    path.write_bytes(data[:100])  # the first event, cut
    written = threading.Event()
    read_some = threading.Event()

    def write_the_rest():
        read_some.wait(60)
        with open(path, "ab") as fh:
            for lo in range(100, len(data), 777):  # pieces that cut events anywhere
                fh.write(data[lo:lo + 777])
                fh.flush()
        written.set()

    writer = threading.Thread(target=write_the_rest)
    writer.start()
    reader = DateReader(path, follow_s=60.0, poll_s=0.01)
    seen = []
    for part in reader:
        read_some.set()  # the reader is at the file's (first) end: now it grows
        seen += part.events["type"].tolist()
    writer.join(60)
    assert written.is_set()
    assert seen == [5] + [7] * 40 + [2] and reader.report.counts == {}
