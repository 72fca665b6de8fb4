"""Qt's platform plugin and the system libraries it needs (``docs/monitor.md``). PyQt5's
wheels bring Qt, not every library of the display's plugin: on a display without them Qt
aborts with "Reinstalling the application may fix this problem", which helps nobody. This
finds them first and names what to install. No Qt here (it must run before Qt loads)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib.util import find_spec
from pathlib import Path

#: library file -> the Debian package that has it
DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1", "libxcb-xinput.so.0": "libxcb-xinput0",
    "libfontconfig.so.1": "libfontconfig1", "libdbus-1.so.3": "libdbus-1-3",
    "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libX11-xcb.so.1": "libx11-xcb1",
}
NOT_FOUND = re.compile(r"^\s*(\S+) => not found", re.MULTILINE)


class DisplayLibrariesMissing(RuntimeError):
    """The display's platform plugin cannot load: the message names what to install."""


def missing_libraries(library: str | Path) -> list[str]:
    """The shared libraries ``library`` needs that the system does not have (``ldd``),
    without repeats; [] when ``ldd`` is not there to ask."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    out = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=30)
    return list(dict.fromkeys(NOT_FOUND.findall(out.stdout)))


def message(missing: list[str], what: str = "the monitor's window") -> str:
    packages = [DEBIAN_PACKAGES[m] for m in missing if m in DEBIAN_PACKAGES]
    unknown = [m for m in missing if m not in DEBIAN_PACKAGES]
    return (f"{what} needs system libraries that are not installed: {', '.join(missing)}"
            + (f" (Debian/Ubuntu: apt-get install {' '.join(packages)})" if packages else "")
            + (f"; find the package of {', '.join(unknown)} for your system" if unknown
               else ""))


def xcb_plugin() -> Path | None:
    """The X11 platform plugin Qt will load: in ``QT_QPA_PLATFORM_PLUGIN_PATH`` (Qt's own
    setting), else PyQt5's."""
    chosen = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    if chosen and (Path(chosen) / "libqxcb.so").exists():
        return Path(chosen) / "libqxcb.so"
    spec = find_spec("PyQt5")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        for qt in ("Qt5", "Qt"):
            plugin = Path(base) / qt / "plugins" / "platforms" / "libqxcb.so"
            if plugin.exists():
                return plugin
    return None


def check_display() -> None:
    """Before Qt starts on an X display: :class:`DisplayLibrariesMissing` naming what to
    install, rather than Qt's abort."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return
    if not os.environ.get("DISPLAY"):
        return
    plugin = xcb_plugin()
    if plugin is None:
        return
    missing = missing_libraries(plugin)
    if missing:
        raise DisplayLibrariesMissing(message(missing))
