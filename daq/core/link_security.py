"""Who may talk to the DAQ (``docs/security.md``): CURVE key pairs in a key directory of mode
0700, each named in its ``roles.toml`` with a role; a ZAP handler that admits only those keys
and gives each connection its ``ROLE:NAME`` as ZeroMQ's ``User-Id``; and what each role may ask
of run control."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import threading
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from daq.core.config_schema import ConfigError

ROLES = ("daq", "operator", "viewer")
#: run-control commands by the role they need; what is not here needs the operator role
VIEWER_COMMANDS = frozenset({"status"})
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
ROLES_FILE = "roles.toml"
#: the roles a ZAP domain admits: run control and the monitor feed take every issued key (a
#: command's role is checked per request); heartbeats, commands and data links only the DAQ's
DOMAIN_ROLES = {"control": ROLES, "feed": ROLES, "daq": ("daq",)}
#: the socket a self-test knocks with, by the server's socket type
_CLIENT_OF = {zmq.REP: zmq.DEALER, zmq.ROUTER: zmq.DEALER, zmq.PUB: zmq.SUB,
              zmq.PULL: zmq.PUSH, zmq.PUSH: zmq.PULL, zmq.DEALER: zmq.DEALER}


def key_directory(path: str | os.PathLike) -> Path:
    """``path``, checked before any key in it is read: a directory of the user's own, mode
    0700 (a key another user can read is anyone's)."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except OSError as exc:
        raise ConfigError(f"key directory {p}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"key directory {p}: not a directory")
    mode = stat.S_IMODE(st.st_mode)
    if mode != 0o700:
        raise ConfigError(f"key directory {p}: mode {mode:04o}, must be 0700 (chmod 700 {p})")
    if st.st_uid != os.geteuid():
        raise ConfigError(f"key directory {p}: owned by uid {st.st_uid}, not by this user")
    return p


def new_key(directory: str | os.PathLike, name: str, role: str) -> tuple[Path, Path]:
    """A new CURVE key pair ``NAME.key`` (public) and ``NAME.key_secret`` (mode 0600) in
    ``directory`` (made 0700 if it does not exist), entered in its roles file with ``role``."""
    if not NAME.fullmatch(name):
        raise ConfigError(f"key name {name!r}: 1-64 letters, digits, '-' or '_'")
    if role not in ROLES:
        raise ConfigError(f"role {role!r}: one of {', '.join(ROLES)}")
    d = Path(directory).expanduser()
    if not d.exists():
        d.mkdir(parents=True, mode=0o700)
        d.chmod(0o700)  # whatever the umask
    d = key_directory(d)
    roles = _read_roles(d)
    if name in roles or (d / f"{name}.key").exists():
        raise ConfigError(f"key {name!r} exists already in {d}")
    public, secret = zmq.auth.create_certificates(str(d), name)
    os.chmod(secret, 0o600)
    with open(d / ROLES_FILE, "a", encoding="utf-8") as fh:
        fh.write(f'{name} = "{role}"\n')
    return Path(public), Path(secret)


def _read_roles(d: Path) -> dict[str, str]:
    path = d / ROLES_FILE
    if not path.exists():
        return {}
    try:
        roles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for name, role in roles.items():
        if not NAME.fullmatch(name) or role not in ROLES:
            raise ConfigError(f"{path}: {name} = {role!r}: a key name and one of "
                              f"{', '.join(ROLES)}")
    return roles


@dataclass
class Keyring:
    """The keys of a key directory: each public key (z85) with its name and role."""

    directory: Path
    roles: dict[str, str]  # name -> role
    public: dict[bytes, str] = field(default_factory=dict)  # z85 public key -> name

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Keyring:
        d = key_directory(directory)
        ring = cls(d, _read_roles(d))
        for name in ring.roles:
            try:
                public, _ = zmq.auth.load_certificate(str(d / f"{name}.key"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{d / (name + '.key')}: {exc}") from None
            ring.public[public] = name
        return ring

    def pair(self, name: str) -> tuple[bytes, bytes]:
        """``name``'s public and secret keys (z85)."""
        if name not in self.roles:
            raise ConfigError(f"no key {name!r} in {self.directory / ROLES_FILE}")
        try:
            public, secret = zmq.auth.load_certificate(
                str(self.directory / f"{name}.key_secret"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.directory / (name + '.key_secret')}: {exc}") from None
        if secret is None:
            raise ConfigError(f"{self.directory / (name + '.key_secret')}: no secret key")
        return public, secret

    def user_id(self, public: bytes) -> str | None:
        """``ROLE:NAME`` of a public key (z85), None for a key never issued."""
        name = self.public.get(public)
        return None if name is None else f"{self.roles[name]}:{name}"


class RoleAuthenticator(ThreadAuthenticator):
    """The ZAP handler of a server process: admits the keyring's keys, names each connection
    ``ROLE:NAME`` (its ``User-Id``), and counts and logs the keys it refuses with the peer's
    address."""

    def __init__(self, ctx: zmq.Context, keyring: Keyring, log=print):
        super().__init__(ctx)
        self.keyring = keyring
        self.say = log
        self.refused: Counter = Counter()  # "KEY from ADDRESS" (a Z85 key may hold "@") -> times
        self.probe: bytes | None = None  # the self-test's key, never issued
        self.probe_refused = threading.Event()
        self._address = ""
        self._lock = threading.Lock()

    def start(self) -> None:
        super().start()
        for domain in DOMAIN_ROLES:  # pyzmq looks the domain up as it is: '*' is no wildcard
            self.configure_curve_callback(domain, credentials_provider=self)
        self.configure_curve_callback("*", credentials_provider=self)  # a socket of none

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        if len(msg) >= 4:  # the peer's address, for the refusal's log line
            self._address = msg[3].decode("utf-8", "replace")
        await super().handle_zap_message(msg)

    def callback(self, domain: str, key: bytes) -> bool:
        user = self.keyring.user_id(key)
        if user is not None and user.split(":")[0] in DOMAIN_ROLES.get(domain, ROLES):
            return True
        if key == self.probe:
            self.probe_refused.set()
            return False
        who = f"{user or key.decode('ascii', 'replace')} from {self._address}"
        why = "key never issued" if user is None else f"not a role of the {domain} links"
        with self._lock:
            self.refused[who] += 1
        self.say(f"refused a connection: {why} ({who})")
        return False

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self.keyring.user_id(zmq.utils.z85.encode(client_public_key)) or ""


def self_test(ctx: zmq.Context, auth: RoleAuthenticator, endpoint: str, server_public: bytes,
              timeout_s: float = 5.0, server_type: int = zmq.REP) -> None:
    """Knock on a CURVE server (bound to ``endpoint``, a socket of ``server_type``) with a key
    never issued: it must be refused. Without a ZAP handler libzmq admits any client that
    knows the server's public key, so a server that fails this does not start."""
    public, secret = zmq.curve_keypair()
    auth.probe_refused.clear()
    auth.probe = public
    sock = ctx.socket(_CLIENT_OF.get(server_type, zmq.DEALER))
    sock.setsockopt(zmq.LINGER, 0)
    sock.curve_secretkey, sock.curve_publickey, sock.curve_serverkey = (
        secret, public, server_public)
    try:
        sock.connect(reachable(endpoint))
        if not auth.probe_refused.wait(timeout_s):
            raise ConfigError(f"{endpoint}: a key never issued was not refused within "
                              f"{timeout_s:g} s (no ZAP handler?): not starting")
    finally:
        sock.close(linger=0)
        auth.probe = None


def reachable(endpoint: str) -> str:
    """Where a client on this host reaches a server bound to ``endpoint`` (``*`` and the
    unspecified addresses: loopback)."""
    endpoint = re.sub(r"^tcp://(\*|0\.0\.0\.0):", "tcp://127.0.0.1:", endpoint)
    return endpoint.replace("tcp://[::]:", "tcp://[::1]:")


def connect_curve(sock: zmq.Socket, keyring: Keyring, name: str,
                  server: str = "daq") -> None:
    """Make ``sock`` (before it connects) a CURVE client with key ``name``, of the server
    whose key is ``server``."""
    public, secret = keyring.pair(name)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    server_public = next((k for k, n in keyring.public.items() if n == server), None)
    if server_public is None:
        raise ConfigError(f"no key {server!r} in {keyring.directory / ROLES_FILE}")
    sock.curve_serverkey = server_public


class LinkGuard:
    """One process's CURVE (``docs/security.md``): its keyring, the DAQ's key it serves and
    connects with (``security.server_key``, role daq), and the ZAP handler of its context,
    started with its first server socket. Every server socket is self-tested once bound."""

    def __init__(self, ctx: zmq.Context, keyring: Keyring, key: str = "daq", log=print):
        self.ctx = ctx
        self.keyring = keyring
        self.key = key
        self.public, self.secret = keyring.pair(key)
        self.say = log
        self.auth: RoleAuthenticator | None = None

    @classmethod
    def for_section(cls, ctx: zmq.Context, security: Any, log=print) -> LinkGuard:
        """The guard of a DAQ process configured by ``security`` (a ``SecuritySection``)."""
        return cls(ctx, Keyring.load(security.keys_directory), security.server_key, log)

    def bind(self, sock: zmq.Socket, endpoint: str, domain: str = "daq") -> None:
        """Bind ``sock`` to ``endpoint`` as a CURVE server of ZAP ``domain`` (whose roles it
        admits), then prove that a key never issued is refused there."""
        if self.auth is None:
            self.auth = RoleAuthenticator(self.ctx, self.keyring, self.say)
            self.auth.start()
        sock.zap_domain = domain.encode()
        sock.curve_secretkey, sock.curve_publickey = self.secret, self.public
        sock.curve_server = True
        sock.bind(endpoint)
        self_test(self.ctx, self.auth, endpoint, self.public, server_type=sock.type)

    def client(self, sock: zmq.Socket) -> None:
        """Make ``sock`` (before it connects) a CURVE client of a DAQ server, with this
        process's key."""
        sock.curve_secretkey, sock.curve_publickey = self.secret, self.public
        sock.curve_serverkey = self.public

    @property
    def refused(self) -> dict[str, int]:
        return dict(self.auth.refused) if self.auth else {}

    def close(self) -> None:
        if self.auth is not None:
            self.auth.stop()
            self.auth = None


def role_of(frame: zmq.Frame) -> tuple[str, str]:
    """(role, name) of the connection a request came on (its ``User-Id``); a link without
    CURVE is the operator's: loopback and ipc trust their host (``docs/security.md``)."""
    try:
        user = frame.get("User-Id")
    except zmq.ZMQError:
        user = ""
    if not user:
        return "operator", "local"
    role, _, name = user.partition(":")
    return role, name


def allowed(role: str, command: str) -> bool:
    """May ``role`` give run-control ``command``?"""
    return role in ("operator", "daq") or command in VIEWER_COMMANDS


def is_loopback(endpoint: str) -> bool:
    """An ``ipc://`` endpoint, or ``tcp://`` on a loopback address (127.0.0.0/8, ::1, or
    ``localhost``)."""
    if endpoint.startswith("ipc://"):
        return True
    m = re.fullmatch(r"tcp://(\[([^\]]+)\]|[^:]+):\d+", endpoint)
    if m is None:
        return False
    host = m.group(2) or m.group(1)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or '*': beyond this host


def exposed(endpoints: Any) -> list[str]:
    """The endpoints (``endpoints.NAME = value``) that listen beyond this host."""
    import dataclasses

    out = []
    for f in dataclasses.fields(endpoints):
        value = getattr(endpoints, f.name)
        if f.name == "source_host":
            value = f"tcp://{value}:1"
        if not is_loopback(value):
            out.append(f"endpoints.{f.name} = {getattr(endpoints, f.name)}")
    return out
