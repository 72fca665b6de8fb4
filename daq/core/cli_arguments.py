"""What every ``na64daq`` command line shares: a parser whose errors are one line, and
numeric options checked for range and finiteness as they are read (``--max-step nan`` removed
the HV step limit; ``--k 1e-9`` ended in a traceback)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from daq.core.config_schema import in_interval, interval_text


class OneLineParser(argparse.ArgumentParser):
    """An argument error is one line naming the option (argparse adds the whole usage)."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def number(kind: type = float, low: float | None = None, high: float | None = None,
           low_inclusive: bool = True) -> Callable[[str], float | int]:
    """An argparse ``type``: a finite ``kind`` within [low, high] (or (low, high])."""
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if not in_interval(value, low, high, low_inclusive):
            raise argparse.ArgumentTypeError(
                f"{text} is outside {interval_text(low, high, low_inclusive)}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


POSITIVE = number(float, 0.0, low_inclusive=False)
COUNT = number(int, 1)  # one or more
RUN = number(int, 0, 2**32 - 1)


def no_verify_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-verify", action="store_true",
                   help="read a run file without checking its blocks' checksums (experts)")
