"""Tests and benchmarks send traffic only to loopback (127.0.0.0/8, ::1) or to namespaces a
test creates itself: the test suite's sources and the default configuration name no other
address (a test once had the builder bind an address of no interface here, and its workers
connect to it)."""

import ipaddress
import re
from pathlib import Path

from daq.core.config_schema import load, to_dict
from daq.processes.daq_config import DaqConfig

TESTS = Path(__file__).resolve().parent
IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])")
# in a string or an endpoint (an index's ``a[:, 1::2]`` is no address)
IPV6 = re.compile(r"""(?:(?<=["'])|(?<=//\[))((?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})"""
                  r"""(?=["'\]])""")


def addresses(text: str) -> list[str]:
    """Every IP address literal in ``text``."""
    out = []
    for candidate in IPV4.findall(text) + IPV6.findall(text):
        try:
            out.append(str(ipaddress.ip_address(candidate)))
        except ValueError:  # a time of day, a version: not an address
            continue
    return out


def test_the_scan_finds_addresses():
    assert addresses('"tcp://127.0.0.1:5600" and tcp://[::1]:5601, at 12:30:00, a[1::2]') == [
        "127.0.0.1", "::1"]


def test_the_test_suite_names_no_address_but_loopback():
    """... and the multi-host test's namespaces' own addresses, in that file alone (its
    ``Network`` assigns each one to a namespace it creates, on a bridge of its own)."""
    from test_multi_host import HOSTS

    own = {"test_multi_host.py": set(HOSTS.values())}
    named = {f"{p.relative_to(TESTS)}: {a}" for p in TESTS.rglob("*.py")
             for a in addresses(p.read_text()) if not ipaddress.ip_address(a).is_loopback
             and a not in own.get(str(p.relative_to(TESTS)), ())}
    assert not named, sorted(named)
    assert all(ipaddress.ip_address(a).is_private for a in HOSTS.values())


def test_the_default_configuration_names_only_loopback():
    hosts = []

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, str) and value.startswith("tcp://"):
            hosts.append(value[len("tcp://"):].rsplit(":", 1)[0].strip("[]"))

    config = to_dict(load(DaqConfig, None, {}))
    walk(config)
    hosts += [config["endpoints"]["source_host"], config["emulator"]["publish"]["bind_host"]]
    assert len(hosts) >= 9
    assert all(h == "localhost" or ipaddress.ip_address(h).is_loopback for h in hosts), hosts
