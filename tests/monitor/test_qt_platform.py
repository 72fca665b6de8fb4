"""On a display whose Qt platform plugin lacks system libraries, ``na64daq monitor`` names
them in one line with what to install (Qt aborted with "Reinstalling the application may
fix this problem"). The plugins here are real ELF files built for the test, one of whose
libraries is gone."""

import os
import shutil
import subprocess
import sys

import pytest

from monitor.qt_platform import message, missing_libraries

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("ldd") is None,
                                reason="needs gcc to build, and ldd to read, a shared library")


def _plugin_needing(directory, soname: str):
    """``directory/libqxcb.so`` linked against a library ``soname`` that is then removed."""
    stub = directory / "stub.c"
    stub.write_text("int na64daq_stub(void) { return 1; }\n")
    lib = directory / soname
    subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(lib),
                    str(stub)], check=True)
    link = directory / "libneeded.so"
    link.symlink_to(lib.name)
    plugin_c = directory / "plugin.c"
    plugin_c.write_text("int na64daq_stub(void);\nint plugin(void) { return na64daq_stub(); }\n")
    plugin = directory / "libqxcb.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugin), str(plugin_c),
                    f"-L{directory}", "-lneeded"], check=True)
    lib.unlink()
    link.unlink()
    return plugin


def test_the_missing_libraries_are_found_and_named_with_their_packages(tmp_path):
    plugin = _plugin_needing(tmp_path, "libna64daq-gone.so.3")
    assert missing_libraries(plugin) == ["libna64daq-gone.so.3"]
    assert missing_libraries(sys.executable) == []
    text = message(["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libna64daq-gone.so.3"])
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1" in text
    assert "find the package of libna64daq-gone.so.3" in text


def test_the_monitor_says_what_to_install_in_one_line(tmp_path):
    plugin = _plugin_needing(tmp_path, "libna64daq-gone.so.3")
    env = dict(os.environ, DISPLAY=":4242", QT_QPA_PLATFORM_PLUGIN_PATH=str(plugin.parent))
    env.pop("QT_QPA_PLATFORM", None)  # Qt would choose xcb on that display
    r = subprocess.run([sys.executable, "-m", "daq.app.cli", "monitor", "--connect",
                        "tcp://127.0.0.1:1"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(
        "na64daq: error: the monitor's window needs system libraries that are not installed: "
        "libna64daq-gone.so.3"), r.stderr
