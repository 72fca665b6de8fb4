"""The DATE decoder fuzzed with hypothesis at scale: random bytes and mutated valid files.

    python bench/raw_fuzz.py [--cases 100000] [--json]

Each case is decoded by the numba kernel as a whole file; a crash, a hang (each case is timed)
or output beyond the input's bounds fails the run. Prints the cases run, the slowest case, and
the rejections counted by reason.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daq.raw import date_format as F
from daq.raw.date_decoder import Tallies, decode_words
from daq.raw.fuzzing import mutate, valid_file


def decode(data: bytes, reasons: Counter, stats: dict) -> None:
    w = np.frombuffer(data[: len(data) // 4 * 4], dtype="<u4")
    n = len(w)
    tallies = Tallies()
    t0 = time.perf_counter()
    decoded, used, swapped = decode_words(w, 0, True, tallies)
    dt = time.perf_counter() - t0
    counts = tallies.counts
    n_dig, n_samp = len(decoded.digits), len(decoded.samples)
    assert 0 <= used <= n and n_dig <= n + 1 and n_samp <= 2 * n
    stats["cases"] += 1
    stats["slowest_s"] = max(stats["slowest_s"], dt)
    for k, c in enumerate(counts):
        if c:
            reasons[F.PROBLEMS[k]] += int(c)
    if swapped:
        reasons["byte-swapped (refused)"] += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000, help="cases in all (half each kind)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    reasons: Counter = Counter()
    stats = {"cases": 0, "slowest_s": 0.0}
    common = {"deadline": None, "database": None,
              "suppress_health_check": list(HealthCheck)}

    @settings(max_examples=args.cases // 2, **common)
    @given(st.integers(0, 2**31), st.integers(0, 2**31))
    def mutated(seed, how):
        decode(mutate(valid_file(seed), how), reasons, stats)

    @settings(max_examples=args.cases // 2, **common)
    @given(st.binary(min_size=0, max_size=8192))
    def random_bytes(data):
        decode(data, reasons, stats)

    t0 = time.perf_counter()
    mutated()
    random_bytes()
    result = {"cases": stats["cases"], "seconds": time.perf_counter() - t0,
              "slowest_case_s": stats["slowest_s"], "rejections_by_reason": dict(reasons)}
    print(json.dumps(result, indent=1) if args.json else
          f"{result['cases']:,} cases in {result['seconds']:.0f} s, no crash, no hang (slowest "
          f"case {result['slowest_case_s'] * 1e3:.2f} ms); rejections by reason: "
          + ", ".join(f"{k} {v:,}" for k, v in reasons.most_common()))


if __name__ == "__main__":
    main()
