"""Bad input for the DATE decoder, as hypothesis strategies: random bytes, and valid files
mutated (bits flipped, cut short, counts and sizes changed). Used by the tests (a few thousand
cases) and by ``bench/raw_fuzz.py`` (100,000)."""

from __future__ import annotations

import numpy as np

from daq.raw import date_format as F
from daq.raw import date_writer as W


def valid_file(seed: int) -> np.ndarray:
    """A small valid file: a start of burst, a few events of every structure, an end."""
    rng = np.random.default_rng(seed)
    header = int(rng.integers(0, 3))
    old = header == F.OLD
    words = [W.date_event(header, F.START_OF_BURST, 1, 1, 0, 0, np.zeros(0, np.uint32))]
    for e in range(int(rng.integers(1, 4))):
        blocks = [W.adc_block(e, int(rng.integers(0, 8)), int(rng.integers(0, 4)),
                              [(int(c), rng.integers(0, 4096, int(rng.integers(0, 40))))
                               for c in rng.choice(16, int(rng.integers(0, 4)), replace=False)])
                  for _ in range(int(rng.integers(1, 3)))]
        if rng.random() < 0.3:
            blocks.append(W.missing_module(e, 1, 1))
        block = W.slink_block(610, e, 1, np.concatenate(blocks))
        if rng.random() < 0.3:
            block = W.multiplexer(900, e, 1, [block])
        words.append(W.date_event(header, F.PHYSICS, 1, 1, e + 1, e, W.equipment(block, 1, old)))
    return np.concatenate(words)


def mutate(words: np.ndarray, seed: int) -> bytes:
    """``words`` damaged one of several ways, as bytes."""
    rng = np.random.default_rng(seed)
    w = words.copy()
    how = int(rng.integers(0, 4))
    if how == 0:  # bits flipped
        for _ in range(int(rng.integers(1, 8))):
            i = int(rng.integers(0, len(w)))
            w[i] ^= np.uint32(1 << int(rng.integers(0, 32)))
    elif how == 1:  # a count or size changed
        i = int(rng.integers(0, len(w)))
        w[i] = np.uint32(int(rng.choice([0, 1, 0xFFFF, 0xFFFFFFFF, int(w[i]) + 4,
                                         max(int(w[i]) - 4, 0)])))
    elif how == 2:  # cut short
        return w.tobytes()[: int(rng.integers(0, 4 * len(w)))]
    else:  # words inserted
        i = int(rng.integers(0, len(w)))
        w = np.insert(w, i, rng.integers(0, 2**32, int(rng.integers(1, 5)), dtype=np.uint32))
    return w.tobytes()
