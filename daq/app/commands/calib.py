"""``na64daq calib``: the calibration scripts and the conditions database (their commands are
``calib/cli.py``'s)."""

from __future__ import annotations

import argparse

import calib.cli


def add_arguments(sub) -> None:
    calib.cli.add_parser(sub)


def run(args: argparse.Namespace) -> int:
    return calib.cli.run(args)
