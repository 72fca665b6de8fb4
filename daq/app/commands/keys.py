"""``na64daq keys``: the CURVE keys and roles of a DAQ that listens beyond its host
(``docs/security.md``)."""

from __future__ import annotations

import argparse

DEFAULT_DIRECTORY = "~/.config/na64daq/keys"


def add_arguments(sub) -> None:
    from daq.core.link_security import ROLES

    p = sub.add_parser("keys", help="CURVE keys and their roles (a DAQ beyond one host)",
                       description="Make a key pair with its role, or list the keys of a key "
                       "directory (mode 0700; refused otherwise).")
    p.add_argument("action", choices=("new", "list"))
    p.add_argument("name", nargs="?", help="the new key's name (new)")
    p.add_argument("--role", choices=ROLES,
                   help="daq: the DAQ's own processes; operator: runs, logbook, alarms, HVs; "
                   "viewer: watch only")
    p.add_argument("--dir", default=DEFAULT_DIRECTORY, metavar="DIR",
                   help=f"the key directory (default {DEFAULT_DIRECTORY})")


def run(args: argparse.Namespace) -> int:
    from daq.core.config_schema import ConfigError
    from daq.core.link_security import Keyring, new_key

    if args.action == "new":
        if not args.name or not args.role:
            raise ConfigError("keys new needs a NAME and --role")
        public, secret = new_key(args.dir, args.name, args.role)
        print(f"key {args.name} ({args.role}): {public} (public), {secret} (secret: keep it "
              "on the hosts that act as it)")
        return 0
    ring = Keyring.load(args.dir)
    for public, name in sorted(ring.public.items(), key=lambda kv: kv[1]):
        print(f"{name:20s} {ring.roles[name]:9s} {public.decode()}")
    return 0
