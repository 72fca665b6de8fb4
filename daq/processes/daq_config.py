"""Configuration of a DAQ: endpoints, builder, workers, writer, tap, run control, and the
emulator that stands in for the readout. One TOML file; ``na64daq config --daq`` lists the keys.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

from daq.core.cli_arguments import name_table
from daq.core.config_schema import ConfigError, param, section, valid_host
from daq.core.link_security import exposed, is_loopback
from daq.raw.digit_assembly import TRIGGER_BITS_TEXT, parse_trigger_bits
from daq.reco.reco_config import RecoConfig
from emulator.config import EmulatorConfig

ENDPOINT = re.compile(r"(tcp://(\*|[^\s\[\]:/]+|\[([0-9A-Fa-f:.]+)\]):(\d{1,5})|ipc://[^\s]+)")


@dataclass(frozen=True)
class EndpointsSection:
    source_host: str = param("127.0.0.1", "host the builder connects to for source N at port "
                             "emulator.publish.base_port + N")
    control: str = param("tcp://127.0.0.1:5600", "run-control commands (REQ/REP)")
    heartbeat: str = param("tcp://127.0.0.1:5601", "heartbeats to the supervisor")
    commands: str = param("tcp://127.0.0.1:5602", "supervisor commands to every process (PUB)")
    builder_work: str = param("tcp://127.0.0.1:5603", "builder hands batches to workers")
    writer: str = param("tcp://127.0.0.1:5604", "workers and builder send to the writer")
    tap: str = param("tcp://127.0.0.1:5605", "workers send samples to the monitor tap")
    tap_publish: str = param("tcp://127.0.0.1:5606", "the monitor tap publishes to viewers")
    launch: str = param("tcp://127.0.0.1:5607", "processes started by a host's supervisord ask "
                        "the supervisor here for their arguments (hosts.engine = "
                        "'supervisord')")

    def check(self) -> None:
        if not valid_host(self.source_host):
            raise ConfigError(f"endpoints.source_host = {self.source_host!r}: not a host name "
                              "(RFC 1123) or an IP address")
        seen: dict[str, str] = {}
        for f in dataclasses.fields(self):
            if f.name == "source_host":
                continue
            value = getattr(self, f.name)
            m = ENDPOINT.fullmatch(value)
            host = m and (m.group(3) or m.group(2))
            if m is None or (m.group(4) and not 0 < int(m.group(4)) < 65536) or (
                    host and host != "*" and not valid_host(host)):
                raise ConfigError(f"endpoints.{f.name} = {value!r}: expected tcp://HOST:PORT "
                                  "(HOST a name or IP address, or *; port 1-65535) or "
                                  "ipc://PATH")
            if value in seen:
                raise ConfigError(f"endpoints.{f.name} = {value!r}: already used by "
                                  f"endpoints.{seen[value]}")
            seen[value] = f.name


def ipc_endpoints(directory: str | os.PathLike) -> dict[str, str]:
    """Every DAQ endpoint but the sources' host on an ipc path in ``directory``, as dotted
    overrides (``endpoints.NAME``): a private DAQ for a bench or a test, on no port."""
    return {f"endpoints.{f.name}": f"ipc://{directory}/{f.name}"
            for f in dataclasses.fields(EndpointsSection) if f.name != "source_host"}


@dataclass(frozen=True)
class BuilderSection:
    timeout_s: float = param(1.0, "a source silent this long (once started), since its last "
                             "frame and since an event's first fragment, is given up for that "
                             "event: it is emitted incomplete", unit="s", low=0.001, high=600.0)
    max_pending_events: int = param(20000, "events waiting for fragments at most (memory bound)",
                                    low=100, high=10_000_000)
    max_event_number: int = param(10_000_000, "event numbers above this are absurd: rejected",
                                  low=1, high=2**32 - 1)
    batch_events: int = param(128, "events per built batch", low=1, high=10000)
    max_lead_events: int = param(
        1024, "a source this far ahead of the slowest live one is not read until it catches "
        "up (back-pressure keeps the crates in step)", low=1, high=10_000_000)
    stall_s: float = param(2.0, "a source silent this long no longer holds the others back",
                           unit="s", low=0.01, high=600.0)
    spill_window: int = param(2, "a frame may open a spill at most this far past the newest "
                              "one seen; others are refused (bounds the spills open at once)",
                              low=1, high=16)


@dataclass(frozen=True)
class WorkersSection:
    count: int = param(2, "reconstruction worker processes", low=1, high=256)
    prefetch: int = param(4, "batches a worker may hold (credit)", low=1, high=64)
    reconstruction: str = param("full", "what the workers run: the full reconstruction, or the "
                                "stub (peak above pedestal per channel, ECAL and HCAL sums: "
                                "the DAQ measured without the reconstruction's cost)",
                                choices=("full", "stub"))
    tap_waveforms_per_batch: int = param(1, "full waveforms per batch sampled for the monitor",
                                         low=0, high=1000)


@dataclass(frozen=True)
class WriterSection:
    directory: str = param("runs", "where run files go")
    flush_s: float = param(1.0, "flush at least this often (and at every end of spill)",
                           unit="s", low=0.01, high=60.0)
    chunk_events: int = param(128, "events per HDF5 chunk (all channels and samples of an "
                              "event in one chunk)", low=1, high=100_000)
    block_events: int = param(1024, "events per write and checksum block (then a flush)",
                              low=1, high=1_000_000)
    compression: str = param("blosc-lz4", "raw-sample compressor: Blosc LZ4 with byte or bit "
                             "shuffle (needs hdf5plugin to read), gzip (portable, slow), none",
                             choices=("blosc-lz4", "blosc-lz4-bitshuffle", "gzip", "none"))
    max_file_mb: float = param(0.0, "start a new file of the run (run_NNNNNN_001.h5, ...) "
                               "past this size; 0: one file per run", unit="MB", low=0.0,
                               high=1e7)


@dataclass(frozen=True)
class TapSection:
    publish_hz: float = param(2.0, "snapshots per second to the monitor's viewers", unit="Hz",
                              low=0.1, high=50.0)
    window_spills: int = param(10, "spills in the monitor's moving-window scope", low=1,
                               high=1000)
    end_of_run_png: bool = param(True, "at each end of run, a PNG of every monitor panel "
                                 "beside the run file (run_NNNNNN.monitor.png)")


@dataclass(frozen=True)
class RunControlSection:
    sources: str = param("emulator", "what feeds the DAQ: the emulator's crates, a replayed "
                         "file, or external sources already running",
                         choices=("emulator", "replay", "external"))
    replay_file: str = param("", "emulated-run file, run file or DATE raw file for sources = "
                             "'replay'")
    replay_map: str = param("", "a DATE raw replay_file's channel map (COMPASS XML, or a "
                            "directory of them); empty: the emulated detector's, shipped")
    replay_trigger_bits: str = param(
        TRIGGER_BITS_TEXT, "a DATE replay_file's trigger-mask bits and the trigger kinds they "
        "are (BIT=KIND, comma-separated; kinds physics, calibration, random, led; the lowest "
        "bit set wins)")
    replay_names: str = param("", "a DATE replay_file's detector names that are others in "
                              "our map (THEIRS=OURS, comma-separated), for its channel map")
    replay_repeat: int = param(1, "play the replayed spills this many times", low=1,
                               high=1_000_000)
    heartbeat_s: float = param(1.0, "heartbeat period of every process", unit="s", low=0.05,
                               high=10.0)
    dead_after_s: float = param(3.0, "a process silent this long is dead (one that exits is "
                                "noticed at once); two missed beats, since under load a busy "
                                "crate once beat 2.0 s apart", unit="s", low=0.1,
                                high=60.0)
    stop_timeout_s: float = param(20.0, "stopping waits this long, then kills", unit="s",
                                  low=0.5, high=600.0)
    startup_s: float = param(60.0, "a new process may take this long to its first heartbeat "
                             "(imports, compiling its kernels); at configure, every process "
                             "and the emulator's kernels", unit="s", low=1.0, high=600.0)
    sources_end_s: float = param(5.0, "at a stop, the sources may take this long to end their "
                                 "run (at most stop_timeout_s)", unit="s", low=0.1, high=600.0)
    drain_after_s: float = param(0.5, "at a stop, the writer not done this long after the "
                                 "sources ended: the builder is told to close the run anyway "
                                 "(a source never ended or opened it)", unit="s", low=0.05,
                                 high=60.0)
    failed_run_close_s: float = param(5.0, "a run the writer can no longer write (disk full): "
                                      "it may take this long to close the ledger, then again "
                                      "after a drain", unit="s", low=0.1, high=600.0)
    last_counts_s: float = param(3.0, "at the end of a run, sources still alive may take this "
                                 "long to send their last counts and exit", unit="s", low=0.1,
                                 high=60.0)
    monitor_save_s: float = param(8.0, "at the end of a run, the tap may take this long to save "
                                  "the run's histograms", unit="s", low=0.5, high=600.0)
    kill_after_s: float = param(2.0, "a process asked to exit (SIGTERM) is killed this long "
                                "after", unit="s", low=0.1, high=60.0)
    kill_hung_after_s: float = param(0.5, "the same for a process already found dead or hung",
                                     unit="s", low=0.05, high=60.0)
    kill_at_shutdown_s: float = param(3.0, "the same at shutdown, for every process", unit="s",
                                      low=0.1, high=60.0)


HOST_LIST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}(,[A-Za-z0-9][A-Za-z0-9.-]{0,62})*")


@dataclass(frozen=True)
class HostsSection:
    engine: str = param("local", "who starts the processes: the supervisor itself (local), or "
                        "each host's supervisord (docs/deployment.md; 'na64daq deploy' writes "
                        "their configurations)", choices=("local", "supervisord"))
    rpc: str = param("unix:///run/na64daq/{host}.sock", "each host's supervisord XML-RPC "
                     "interface: unix://PATH or http://ADDRESS:PORT ({host}: the host's name)")
    rpc_secrets: str = param("", "with an inet rpc: the directory 'na64daq deploy' wrote, "
                             "whose HOST/rpc.secret (mode 0600) holds each supervisord's user "
                             "and password")
    builder: str = param("localhost", "the builder's host")
    writer: str = param("localhost", "the writer's host")
    tap: str = param("localhost", "the monitor tap's host")
    workers: str = param("localhost", "the workers' hosts (comma-separated: dealt in turn)")
    sources: str = param("localhost", "the crates' hosts, in the order of the source ids "
                         "(comma-separated; one: every crate there)")

    def check(self) -> None:
        for key in ("builder", "writer", "tap", "workers", "sources"):
            if not HOST_LIST.fullmatch(getattr(self, key)):
                raise ConfigError(f"hosts.{key} = {getattr(self, key)!r}: host names "
                                  "(letters, digits, '.', '-'), comma-separated")
        if "{host}" not in self.rpc or not self.rpc.startswith(("unix:///", "http://")):
            raise ConfigError(f"hosts.rpc = {self.rpc!r}: unix:///PATH or http://ADDRESS:PORT, "
                              "with {host} in it")
        if self.engine == "supervisord" and self.rpc.startswith("http://") and \
                not self.rpc_secrets:
            raise ConfigError("hosts.rpc_secrets: an inet rpc needs the passwords 'na64daq "
                              "deploy' wrote (its --out directory)")

    def of(self, role: str, index: int = 0) -> str:
        """The host of the ``index``-th process of ``role`` (worker, source: dealt in turn)."""
        hosts = getattr(self, {"worker": "workers", "source": "sources"}.get(role, role))
        names = hosts.split(",")
        return names[index % len(names)]

    def of_source(self, sid: int | None, source_ids: list[int]) -> str:
        """The host of the crate publishing source ``sid`` (None: every source)."""
        return self.of("source", 0 if sid is None else sorted(source_ids).index(sid))

    def all(self) -> list[str]:
        """Every host named, once, in order."""
        out: list[str] = []
        for key in ("builder", "writer", "tap", "workers", "sources"):
            out += [h for h in getattr(self, key).split(",") if h not in out]
        return out


@dataclass(frozen=True)
class SecuritySection:
    curve: str = param("auto", "CURVE keys and roles on run control, heartbeats, commands and "
                       "the monitor feed (docs/security.md): auto (when any endpoint listens "
                       "beyond loopback), on, or off (refused then)",
                       choices=("auto", "on", "off"))
    curve_data: str = param("on", "the data links (crates, builder, workers, writer, tap) with "
                            "CURVE too, whenever the others are (docs/security.md: its measured "
                            "cost)", choices=("on", "off"))
    keys_directory: str = param("~/.config/na64daq/keys", "the key directory (mode 0700): "
                                "roles.toml and the key pairs of 'na64daq keys'")
    server_key: str = param("daq", "the DAQ's key (role daq): every DAQ process serves and "
                            "connects with it; its clients need its public half")
    client_key: str = param("", "the key 'na64daq ctl' and the monitor act as (an operator's "
                            "or a viewer's; --key overrides)")


@dataclass(frozen=True)
class DaqConfig:
    endpoints: EndpointsSection = section(EndpointsSection, "where the processes talk")
    builder: BuilderSection = section(BuilderSection, "event building")
    workers: WorkersSection = section(WorkersSection, "reconstruction workers")
    writer: WriterSection = section(WriterSection, "file writer")
    tap: TapSection = section(TapSection, "the monitor tap's histogram server")
    run: RunControlSection = section(RunControlSection, "run control")
    reco: RecoConfig = section(RecoConfig, "the online reconstruction: thresholds, windows, "
                               "cuts and blinding (recorded in every run file)")
    emulator: EmulatorConfig = section(EmulatorConfig, "the emulated readout")
    security: SecuritySection = section(SecuritySection, "who may talk to the DAQ")
    hosts: HostsSection = section(HostsSection, "where each process runs, and who starts it")

    def exposed(self) -> list[str]:
        """What listens beyond this host: endpoints, and the crates' publishers."""
        crates = self.emulator.publish.bind_host
        return exposed(self.endpoints) + (
            [] if is_loopback(f"tcp://{crates}:1") else
            [f"emulator.publish.bind_host = {crates}"])

    def check(self) -> None:
        beyond = self.exposed()
        if beyond and self.security.curve == "off":
            raise ConfigError(f"{beyond[0]} listens beyond this host: security.curve cannot "
                              "be off")
        try:
            parse_trigger_bits(self.run.replay_trigger_bits)
            name_table(self.run.replay_names)
        except ValueError as exc:
            key = "replay_trigger_bits" if "trigger bits" in str(exc) else "replay_names"
            raise ConfigError(f"run.{key}: {exc}") from None
        if self.run.sources == "replay" and not self.run.replay_file:
            raise ConfigError("run.replay_file: required when run.sources = 'replay'")
        if self.run.dead_after_s <= self.run.heartbeat_s:
            raise ConfigError(f"run.dead_after_s = {self.run.dead_after_s:g}: must be longer "
                              f"than run.heartbeat_s = {self.run.heartbeat_s:g}")

    @property
    def log_directory(self) -> Path:
        """Where the supervisor keeps each process's output, their configuration and the run
        records that the writer copies into run files."""
        return Path(self.writer.directory) / "logs"

    def run_record_path(self, run: int) -> Path:
        return self.log_directory / f"run-{run}.record.json"

    @property
    def curve(self) -> bool:
        """Run control with CURVE keys and roles (``docs/security.md``)."""
        return self.security.curve == "on" or (self.security.curve == "auto"
                                                and bool(self.exposed()))

    @property
    def curve_keys(self) -> tuple[str, str] | None:
        """(key directory, the DAQ's key name) for every DAQ process, when :attr:`curve`."""
        return (self.security.keys_directory, self.security.server_key) if self.curve else None

    @property
    def data_curve(self) -> bool:
        """The data links with CURVE too."""
        return self.curve and self.security.curve_data == "on"

    def readouts(self, source_ids: list[int]) -> list[int | None]:
        """The source processes a run starts, by the source each publishes (None: every
        source). A DATE file holds every crate's data in each event: one process reads it
        once and publishes them all, where one per crate would each decode the whole file."""
        from emulator.date_replay import is_date_file

        if self.run.sources == "external":
            return []
        if self.run.sources == "replay" and is_date_file(self.run.replay_file):
            return [None]
        return list(source_ids)

    def placement(self, source_ids: list[int]) -> dict[str, str]:
        """Program -> host: the builder, writer and tap, the worker slots ``worker-K`` and
        the crates (``source_process``), as ``hosts`` places them."""
        h = self.hosts
        out = {role: h.of(role) for role in ("builder", "writer", "tap")}
        out.update({f"worker-{k + 1}": h.of("worker", k) for k in range(self.workers.count)})
        out.update({source_process(sid): h.of_source(sid, source_ids)
                    for sid in self.readouts(source_ids)})
        return out

    def source_endpoint(self, source_id: int) -> str:
        return f"tcp://{self.endpoints.source_host}:{self.emulator.publish.base_port + source_id}"


def source_process(sid: int | None) -> str:
    """The name of the crate process publishing source ``sid`` (None: every source)."""
    return f"source-{'all' if sid is None else sid}"


def client_key(cfg: DaqConfig, name: str | None = None):
    """(keyring, key name, the server's key name) for a run-control client when run control
    uses CURVE, else None; ``name`` overrides ``security.client_key``."""
    if not cfg.curve:
        return None
    from daq.core.link_security import Keyring

    name = name or cfg.security.client_key
    if not name:
        raise ConfigError("run control uses CURVE keys (security.curve): name the key to act "
                          "as with --key or security.client_key")
    return Keyring.load(cfg.security.keys_directory), name, cfg.security.server_key


def timeouts_table() -> str:
    """The run-control timeouts as the table of ``docs/run-control.md`` (generated from the
    keys, so that the document cannot drift from them; a test compares the two)."""
    import dataclasses

    rows = ["| key | default | what |", "|---|---|---|"]
    for f in dataclasses.fields(RunControlSection):
        if f.name.endswith("_s"):
            rows.append(f"| `run.{f.name}` | {f.default:g} s | {f.metadata['doc']} |")
    return "\n".join(rows)
