"""NA64's calibration tables in the SDC text format (``CrankOne/sdc``, read for facts only):
``#`` comments, ``key=value`` lines (``runs=6035-8395``, ``columns=name,x,y,amp``), and
whitespace-separated rows; a later block overrides an earlier one for its runs."""

from __future__ import annotations

import re
from pathlib import Path

from daq.core.detector import Detector
from daq.raw.channel_map import in_runs, our_channel


class SdcTableError(ValueError):
    """An SDC table that cannot be read, or that names no channel of ours."""


def read_sdc(path: str | Path, detector: Detector, run: int,
             names: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
    """Per channel of ours, the numeric columns in force for ``run`` (later rows win)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SdcTableError(f"{path}: cannot be read ({exc})") from None
    known = {c.name for c in detector.channels}
    runs: str | None = None
    columns: list[str] | None = None
    out: dict[str, dict[str, float]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path}:{number}"
        setting = re.fullmatch(r"([A-Za-z_]\w*)\s*=\s*(.*)", line)
        if setting:
            key, value = setting.group(1), setting.group(2).strip()
            if key == "runs":
                try:
                    in_runs(value, 0)
                except ValueError:
                    raise SdcTableError(f"{where}: runs={value!r} is not a run range") from None
                runs = value
            elif key == "columns":
                columns = [c.strip() for c in value.split(",") if c.strip()]
                if "name" not in columns:
                    raise SdcTableError(f"{where}: columns= without a 'name' column")
            continue  # other keys (type=, ...) describe the block
        if columns is None:
            raise SdcTableError(f"{where}: a row before any 'columns=' line")
        fields = line.split()
        if len(fields) != len(columns):
            raise SdcTableError(f"{where}: {len(fields)} fields where columns= names "
                                f"{len(columns)}")
        row = dict(zip(columns, fields, strict=True))
        if not in_runs(runs, run):
            continue
        try:
            x, y = int(row.get("x", -1)), int(row.get("y", -1))
            values = {k: float(v) for k, v in row.items() if k not in ("name", "x", "y")}
        except ValueError:
            raise SdcTableError(f"{where}: {line!r}: not numbers") from None
        channel = our_channel(row["name"], x, y, known, names or {})
        if channel is None:
            raise SdcTableError(f"{where}: {row['name']} {x} {y} is no channel of the detector "
                                "map (a name to translate with --name?)")
        out.setdefault(channel, {}).update(values)
    return out
