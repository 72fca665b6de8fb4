"""Alarm performance figures (ISA-18.2 / EEMUA 191) from the times alarms rose, counted by
hand here."""

from monitor.alarm_performance import performance, summary_line

HOUR = 3600.0


def test_a_quiet_shift():
    p = performance([(100.0, "dead channel")], 0.0, 8 * HOUR)
    assert p["alarms"] == 1 and abs(p["per_10_min"] - 1 / 48) < 1e-12
    assert p["most_in_10_min"] == 1 and p["floods"] == 0 and p["chattering"] == []
    assert p["top"] == [{"name": "dead channel", "raised": 1}] and p["top_share"] == 1.0
    assert "1 alarms, 0.02 per 10 min" in summary_line(p)


def test_the_first_minutes_of_a_shift_count_what_rose_not_a_rate():
    """One alarm 83 s into the shift is 1 in its first 10 minutes, not 7.2 per 10 minutes."""
    p = performance([(80.0, "hot channel")], 0.0, 83.0)
    assert p["per_10_min"] == 1.0 and p["most_in_10_min"] == 1


def test_a_flood_chattering_and_a_stale_alarm():
    flood = [(1000.0 + 30 * k, f"check {k % 6}") for k in range(12)]  # 12 in 5.5 minutes
    chatter = [(5000.0, "hot channel"), (5020.0, "hot channel"), (5059.0, "hot channel")]
    slow = [(9000.0, "gain drift"), (9040.0, "gain drift"), (9200.0, "gain drift")]
    p = performance(flood + chatter + slow, 0.0, 30 * HOUR,
                    active_since=[("beam off", 0.0), ("rate drop", 20 * HOUR)])
    assert p["alarms"] == 18 and p["most_in_10_min"] == 12 and p["floods"] == 1
    assert p["chattering"] == ["hot channel"]  # 3 within 59 s; gain drift's took 200 s
    assert p["stale"] == ["beam off"]  # active for 30 h; rate drop for 10 h
    assert p["top"][0] == {"name": "hot channel", "raised": 3}
    assert p["top_share"] == 1.0  # 8 different alarms: the top 10 are all of them


def test_raises_outside_the_span_do_not_count():
    p = performance([(-5.0, "a"), (50.0, "b"), (700.0, "c")], 0.0, 600.0)
    assert p["alarms"] == 1 and p["top"] == [{"name": "b", "raised": 1}]
    assert performance([], 0.0, 600.0)["top_share"] is None
