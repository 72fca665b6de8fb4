"""What every ``na64daq`` command line shares: a parser whose errors are one line, and
numeric options checked for range and finiteness as they are read (``--max-step nan`` removed
the HV step limit; ``--k 1e-9`` ended in a traceback)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import TypeVar

from daq.core.config_schema import in_interval, interval_text

T = TypeVar("T")


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


def name_pair(text: str) -> tuple[str, str]:
    """``THEIRS=OURS`` as a pair; anything else is a ValueError."""
    theirs, sep, ours = text.partition("=")
    if not sep or not theirs.strip() or not ours.strip():
        raise ValueError(f"{text!r} is not THEIRS=OURS")
    return theirs.strip(), ours.strip()


def name_table(text: str) -> dict[str, str]:
    """``THEIRS=OURS,...`` (the configuration's ``run.replay_names``) as a table."""
    return dict(name_pair(p) for p in text.split(",") if p.strip())


def argument_type(parse: Callable[[str], T], name: str) -> Callable[[str], T]:
    """``parse`` as an argparse type: its ValueError becomes argparse's one-line error."""
    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


def name_option(p: argparse.ArgumentParser, flag: str = "--name") -> None:
    """``--name THEIRS=OURS``, repeatable: NA64's detector names (channel maps, calibration
    tables) that are others in our detector map; ``dict(args.name)`` is the table (``flag``:
    another option's name, where ``--name`` is taken; ``dict(args.names)`` then)."""
    p.add_argument(flag, type=argument_type(name_pair, "name"), action="append", default=[],
                   metavar="THEIRS=OURS",
                   dest="name" if flag == "--name" else "names",
                   help="a detector name of NA64's map or table that is another in ours "
                        "(repeatable)")


def no_verify_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-verify", action="store_true",
                   help="read a run file without checking its blocks' checksums (experts)")
