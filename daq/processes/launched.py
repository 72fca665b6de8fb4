"""A DAQ process started by its host's supervisord (``docs/deployment.md``):
``python -m daq.processes.launched PROGRAM --launch ENDPOINT [--keys DIR --key NAME]``.

It asks the supervisor for what this run gives the process started as ``PROGRAM`` (its
arguments, the small files they name, its environment and heartbeat token), writes the files
to a private directory, and becomes that process (``exec``: supervisord keeps watching the
very process it started)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import zmq

ASK_S = 30.0  # the supervisor answers at its next poll; a longer silence is a wrong endpoint


def ask(program: str, endpoint: str, keys: str | None, key: str) -> dict:
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        if keys:
            from daq.core.link_security import Keyring, LinkGuard

            LinkGuard(ctx, Keyring.load(keys), key).client(sock)
        sock.connect(endpoint)
        sock.send(json.dumps({"program": program}).encode())
        if not sock.poll(int(ASK_S * 1000)):
            raise SystemExit(f"{program}: no supervisor answers on {endpoint} within "
                             f"{ASK_S:g} s")
        answer = json.loads(sock.recv())
    finally:
        ctx.destroy(linger=0)
    if not answer.get("ok"):
        raise SystemExit(f"{program}: {answer.get('error')}")
    return answer["spec"]


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="daq.processes.launched")
    ap.add_argument("program")
    ap.add_argument("--launch", required=True, metavar="ENDPOINT")
    ap.add_argument("--keys", metavar="DIR", help="CURVE key directory (the DAQ's links use it)")
    ap.add_argument("--key", default="daq", metavar="NAME")
    args = ap.parse_args(argv)
    spec = ask(args.program, args.launch, args.keys, args.key)
    here = tempfile.mkdtemp(prefix=f"na64daq-{args.program}-")
    local = {}
    for k, (path, text) in enumerate(sorted(spec["files"].items())):
        local[path] = os.path.join(here, f"{k}-{os.path.basename(path)}")
        with open(local[path], "w", encoding="utf-8") as fh:
            fh.write(text)
    child = [local.get(a, a) for a in spec["argv"]]
    env = {**os.environ, **spec["env"]}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *child], env)


if __name__ == "__main__":
    main(sys.argv[1:])
