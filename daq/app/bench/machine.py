"""What machine a measurement ran on: every benchmark reports it with its figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def description() -> str:
    """``CPU model, N cores, Python X.Y.Z``."""
    cpu = platform.processor() or "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
