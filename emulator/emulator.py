"""The emulated readout: spills, triggers, batches of events, frames per source, and truth.

Everything is a deterministic function of (seed, run, spill, batch): a process that emulates only
some sources produces, for them, exactly the frames of a process that emulates all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daq.core.config_schema import ConfigError, build
from daq.core.detector import Detector
from daq.core.pulse_shape import STEP_NS, TAIL_CUT, PulseTemplate, shape
from daq.core.wire_format import (
    EVENT_DTYPE,
    FrameKind,
    TriggerKind,
    decode,
    encode_control,
    encode_events,
    peek,
)
from emulator import physics
from emulator.config import CLASS_NAMES, DIMUON, ELECTRONUCLEAR, SIGNAL, EmulatorConfig
from emulator.waveforms import noise_bank, synthesize

ACCEPTANCE_DRAWS = 20_000  # per class: the acceptance to 0.4 % (at 0.4), in 0.2 s

_MASK64 = (1 << 64) - 1


def _seed(*parts: int) -> int:
    """A 63-bit seed mixing several integers (stable across processes and platforms)."""
    ss = np.random.SeedSequence([p & _MASK64 for p in parts])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass
class Batch:
    """One batch of events of one spill: the event table, samples per source, and truth."""

    spill: int
    index: int
    events: np.ndarray  # EVENT_DTYPE
    samples: dict[int, np.ndarray]  # source id -> (events, channels, samples) uint16
    truth: dict[str, np.ndarray]
    sent: dict[int, np.ndarray] | None = None  # source id -> rows it sends (fault injection)

    def built_events(self) -> np.ndarray:
        """The batch's event table as the event builder emits it (every event complete)."""
        from daq.core.built_batch import BUILT_DTYPE

        out = np.zeros(len(self.events), BUILT_DTYPE)
        out["spill"] = self.spill
        for name in ("event", "trigger", "trigger_time_ns"):
            out[name] = self.events[name]
        out["complete"] = 1
        return out

    def nearest_pileup_ns(self) -> np.ndarray:
        """Per event, how far from the trigger its nearest pileup particle is (ns; inf: none):
        within ~10 ns it makes one pulse with the in-time particle in every cell."""
        out = np.full(len(self.events), np.inf)
        np.minimum.at(out, self.truth["pileup_event"], np.abs(self.truth["pileup_time_ns"]))
        return out

    def samples_in_map_order(self, detector: Detector) -> np.ndarray:
        """Every source's samples as one (events, channels, samples) array in the map's
        channel order: what the event builder makes of this batch (without fault injection)."""
        out = np.empty((len(self.events), detector.n_channels, detector.samples_per_channel),
                       np.uint16)
        for sid, s in self.samples.items():
            out[:, np.asarray(detector.source(sid).channels)] = s
        return out


@dataclass
class SpillPlan:
    spill: int
    start_ns: int  # wall clock (emulated)
    end_ns: int
    triggers: np.ndarray  # TriggerKind per event
    times_ns: np.ndarray  # float, since spill start


def trigger_acceptance(cfg: EmulatorConfig, params: np.ndarray) -> np.ndarray:
    """Per class (``emulator.config`` codes), the fraction of its beam particles that pass
    the physics trigger; the same draws whoever asks (seeded by the run's seed)."""
    return physics.class_acceptance(_seed(cfg.run.seed, 7), params, len(CLASS_NAMES),
                                    ACCEPTANCE_DRAWS)


def recorded_yields(daq_config: dict[str, Any], detector: Detector
                    ) -> tuple[dict[str, float] | None, float]:
    """The expected yields and the prescale of the emulator that took a run, from its
    recorded DAQ configuration, or (None, 1) for a run the emulator did not take."""
    if not isinstance(daq_config, dict) or "emulator" not in daq_config:
        return None, 1.0
    try:
        cfg = build(EmulatorConfig, daq_config["emulator"])
    except (ConfigError, TypeError):
        return None, 1.0
    return expected_yields(cfg, detector), cfg.trigger.physics_prescale


def expected_yields(cfg: EmulatorConfig, detector: Detector) -> dict[str, float]:
    """Per electron on target, the physics triggers of each rare class before the prescale:
    probability x boost x acceptance (what the monitor's per-EOT yields should show)."""
    weights = physics.class_weights(cfg, boosted=True)
    acceptance = trigger_acceptance(cfg, physics.physics_params(cfg, detector))
    return {f"{CLASS_NAMES[c]}s_per_eot": float(weights[c] * acceptance[c])
            for c in (DIMUON, ELECTRONUCLEAR, SIGNAL)}


def true_pulses(d, template: PulseTemplate, n_channels: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, float]:
    """The shape each channel's pulses are drawn with, (channels, entries) on the template's
    step from a common start (ns from the peak): the template itself unless the digitizer
    says otherwise (``true_pulse_scale``, ``true_pulse_spread``, ``slow_fraction``), so that
    the reconstruction's template can be tested against pulses it does not describe."""
    if d.true_pulse_scale == 1.0 and d.true_pulse_spread == 0.0 and d.slow_fraction == 0.0:
        return np.tile(template.table, (n_channels, 1)), template.t0_ns
    scale = np.clip(d.true_pulse_scale + d.true_pulse_spread * rng.standard_normal(n_channels),
                    0.5, 2.0)
    rise = d.pulse_peak_ns * scale
    t0 = -STEP_NS * np.ceil(max(rise.max(), d.slow_peak_ns) / STEP_NS)
    t = t0 + STEP_NS * np.arange(int(np.ceil((50 * rise.max() - t0) / STEP_NS)) + 1)
    tables = np.empty((n_channels, len(t)))
    for c in range(n_channels):
        fast = shape(t, rise[c], d.pulse_order)
        # the slow component starts with the fast one and peaks later
        slow = shape(t + rise[c] - d.slow_peak_ns, d.slow_peak_ns, 2)
        pulse = (1.0 - d.slow_fraction) * fast + d.slow_fraction * slow
        tables[c] = pulse / pulse.max()
    keep = np.nonzero((tables.max(axis=0) >= TAIL_CUT) | (t <= 0))[0]
    return np.ascontiguousarray(tables[:, : keep[-1] + 1]), float(t0)


class Emulator:
    """Emulates the MSADC crates of the detector map under the configured beam."""

    def __init__(self, cfg: EmulatorConfig, detector: Detector):
        cfg.check_detector(detector.window_ns)
        self.cfg = cfg
        self.detector = detector
        self.geometry = physics.Geometry(detector)
        self.params = physics.physics_params(cfg, detector)
        self.cum_boosted = np.cumsum(physics.class_weights(cfg, boosted=True))
        self.cum_natural = np.cumsum(physics.class_weights(cfg, boosted=False))
        d = cfg.digitizer
        self.template = PulseTemplate(d.pulse_peak_ns, d.pulse_order)
        self.pulse_tables, self.pulse_t0_ns = true_pulses(
            d, self.template, detector.n_channels, np.random.default_rng(_seed(cfg.run.seed, 9)))
        rng = np.random.default_rng(_seed(cfg.run.seed, 1))
        n = detector.n_channels
        even = rng.uniform(d.pedestal_min_adc, d.pedestal_max_adc, n)
        odd = np.clip(even + rng.normal(0.0, d.odd_even_sigma_adc, n), 0.0, detector.adc_max)
        self.pedestal = np.stack([even, odd], axis=1)
        self.hv_v, self.adc_per_gev, nominal = self._gains(rng)
        self.led_gev = self._led_light(rng, nominal)
        self.bank = noise_bank(_seed(cfg.run.seed, 2))
        #: per class (``emulator.config`` codes), the fraction of its beam particles that
        #: pass the physics trigger
        self.acceptance = trigger_acceptance(cfg, self.params)
        self.physics_rate_hz = self._physics_rate_hz()
        f = cfg.faults
        for name in (f.dead_channel, f.hot_channel, f.pedestal_channel, f.gain_channel):
            if name:
                self._channel(name)  # a misspelt channel is refused before the run

    def _physics_rate_hz(self) -> float:
        """The configured rate, or (-1) the beam's: particles per second that the trigger
        accepts, prescaled (``docs/emulator.md``)."""
        t, c = self.cfg.trigger, self.cfg
        if t.physics_rate_hz >= 0:
            return t.physics_rate_hz
        weights = np.diff(self.cum_boosted, prepend=0.0)
        beam_per_s = c.beam.intensity_per_spill / c.spill.duration_s
        return float(beam_per_s * (weights * self.acceptance).sum() / t.physics_prescale)

    # -- configuration-derived tables --------------------------------------------------------
    def _gains(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """HV per channel, the gain it gives (gain proportional to HV^k) and the nominal gain,
        in ADC/GeV."""
        g = self.cfg.gains
        base = g.nominal_adc_per_gev(self.detector)
        spread = rng.uniform(1.0 - g.hv_gain_spread, 1.0 + g.hv_gain_spread, len(base))
        hv = g.hv_nominal_v * spread ** (1.0 / g.hv_k)
        if g.hv_table:
            for name, volts in _read_hv_table(Path(g.hv_table), self.detector).items():
                hv[self.detector.index(name)] = volts
        if g.hv_from_conditions:
            for name, volts in _hv_in_force(self.cfg.run.number, self.detector).items():
                hv[self.detector.index(name)] = volts
        return hv, base * (hv / g.hv_nominal_v) ** g.hv_k, base

    def _led_light(self, rng: np.random.Generator, nominal: np.ndarray) -> np.ndarray:
        """LED light per channel as the deposit (GeV) that gives its pulse at the nominal HV:
        the calorimeters' PMTs are lit, each by its own share of the light."""
        r = self.cfg.response
        light = rng.uniform(1.0 - r.led_light_spread, 1.0 + r.led_light_spread, len(nominal))
        lit = np.zeros(len(nominal), bool)
        for name in ("ECAL", "HCAL"):
            lit[self.detector.select(name)] = True
        return np.where(lit, r.led_adc * light / nominal, 0.0)

    def warm_up(self, source_ids: Iterable[int] | None = None) -> None:
        """Compile (or load from cache) the kernels on a tiny spill of the sources to emulate,
        so timings exclude it and no compilation happens mid-run."""
        plan = self.spill_plan(0)
        n = min(3, len(plan.triggers))
        tiny = SpillPlan(0, plan.start_ns, plan.end_ns, plan.triggers[:n], plan.times_ns[:n])
        for _ in self.batches(tiny, source_ids):
            pass

    # -- spills --------------------------------------------------------------------------------
    def spill_plan(self, spill: int) -> SpillPlan:
        """Trigger kinds and times of one spill (Poisson processes, merged and sorted)."""
        c, t = self.cfg, self.cfg.trigger
        rng = np.random.default_rng(_seed(c.run.seed, c.run.number, spill, 3))
        duration_ns = c.spill.duration_s * 1e9
        kinds, times = [], []
        beam = 0.0 if c.faults.beam_off and c.faults.on(spill) else 1.0
        for kind, rate in ((TriggerKind.PHYSICS, self.physics_rate_hz * beam),
                           (TriggerKind.CALIBRATION, t.calibration_rate_hz * beam),
                           (TriggerKind.RANDOM, t.random_rate_hz),
                           (TriggerKind.LED, t.led_rate_hz)):
            n = rng.poisson(rate * c.spill.duration_s)
            kinds.append(np.full(n, kind, np.uint8))
            times.append(rng.uniform(0.0, duration_ns, n))
        all_times = np.concatenate(times)
        order = np.argsort(all_times, kind="stable")
        period_s = c.spill.duration_s + c.spill.pause_s
        start = c.run.start_time_ns + int((spill - 1) * period_s * 1e9)
        # trigger times in whole ns, as the event record carries them (a 1 ns TDC): the pulses'
        # phase to the sampling clock then follows from the record exactly
        return SpillPlan(spill, start, start + int(duration_ns),
                         np.concatenate(kinds)[order], np.floor(all_times[order]))

    def batches(self, plan: SpillPlan, source_ids: Iterable[int] | None = None) -> Iterator[Batch]:
        """The spill's events in batches, with samples for ``source_ids`` (default: all)."""
        c = self.cfg
        ids = list(self.detector.source_ids if source_ids is None else source_ids)
        n_events = len(plan.triggers)
        size = c.run.batch_events
        wave_key = np.uint64(_seed(c.run.seed, c.run.number, plan.spill, 4))
        period = self.detector.sample_period_ns
        d, r = c.digitizer, c.response
        params = self.params_for_spill(plan.spill)
        adc_per_gev, pedestal, hot = self._faulty(plan.spill)
        if c.faults.beam_off and c.faults.on(plan.spill):
            params = params.copy()
            params["pileup_rate_per_ns"] = 0.0
        for index, lo in enumerate(range(0, n_events, size)):
            hi = min(lo + size, n_events)
            trig = plan.triggers[lo:hi]
            t_ns = plan.times_ns[lo:hi]
            ev = np.zeros(hi - lo, EVENT_DTYPE)
            numbers = np.arange(lo + 1, hi + 1, dtype=ev.dtype["event"])  # contiguous, as
            ev["event"] = numbers  # a kernel wants it (a field view is so only for 1 event)
            ev["trigger"] = trig
            ev["trigger_time_ns"] = t_ns.astype(np.uint64)
            seed = _seed(c.run.seed, c.run.number, plan.spill, index, 5)
            cls, offsets, part_cls, part_time, dep = physics.simulate_batch(
                seed, trig, params, self.cum_boosted, self.cum_natural,
                self.detector.n_channels, *self.geometry.args())
            led = np.flatnonzero(trig == TriggerKind.LED)
            if len(led):  # the flash is the in-time "particle" of an LED event
                flash = np.random.default_rng(_seed(c.run.seed, c.run.number, plan.spill,
                                                    index, 6))
                dep[offsets[led]] = self.led_gev * (
                    1.0 + r.led_fluctuation * flash.standard_normal((len(led), len(self.led_gev))))
            if hot is not None:  # a hot channel: a pulse with every in-time particle
                first = offsets[:-1][trig != TriggerKind.RANDOM]  # random: none in time
                dep[first, hot] += c.faults.hot_adc / self.adc_per_gev[hot]
            if (cls < 0).any():
                raise ConfigError(
                    "trigger: no beam particle passes the physics trigger (ecal_max_gev / "
                    "preshower_min_gev exclude every class); loosen them")
            phase = np.mod(t_ns, period)
            frac = t_ns / (c.spill.duration_s * 1e9)
            gain = 1.0 - r.gain_drift_fraction * frac
            saturation = r.pmt_saturation * np.exp(-t_ns * 1e-9 / r.pmt_saturation_decay_s)
            samples = {}
            for sid in ids:
                chans = np.asarray(self.detector.source(sid).channels, dtype=np.int64)
                out = np.empty((hi - lo, len(chans), self.detector.samples_per_channel), np.uint16)
                synthesize(out, chans, wave_key, numbers, offsets, part_time, dep,
                           adc_per_gev, gain, saturation, phase, pedestal, d.noise_adc,
                           self.bank, self.pulse_tables, self.pulse_t0_ns, period,
                           d.trigger_offset_ns, r.time_jitter_ns, r.time_jitter_adc_ns,
                           self.detector.adc_max)
                samples[sid] = out
            truth = self._truth(ev, trig, cls, offsets, part_cls, part_time, dep, phase, gain)
            sent = None
            f = c.faults
            if f.skip_source in samples:  # a crate that silently loses some events
                rows = ev["event"] % f.skip_every != 0
                samples[f.skip_source] = np.ascontiguousarray(samples[f.skip_source][rows])
                sent = {f.skip_source: rows}
            if f.stop_source in samples and f.on(plan.spill):  # a crate that stops sending
                samples[f.stop_source] = samples[f.stop_source][:0]
                sent = {**(sent or {}), f.stop_source: np.zeros(len(ev), bool)}
            yield Batch(plan.spill, index, ev, samples, truth, sent)

    def _faulty(self, spill: int) -> tuple[np.ndarray, np.ndarray, int | None]:
        """Gains (ADC/GeV), pedestals (even, odd) and the hot channel of a spill, with the
        faults of ``faults.*`` that are on by then."""
        f = self.cfg.faults
        if not f.on(spill):
            return self.adc_per_gev, self.pedestal, None
        gains, pedestal = self.adc_per_gev.copy(), self.pedestal.copy()
        if f.dead_channel:
            gains[self._channel(f.dead_channel)] = 0.0
        if f.gain_channel:
            gains[self._channel(f.gain_channel)] *= 1.0 - f.gain_drop_fraction
        if f.pedestal_channel:
            k = self._channel(f.pedestal_channel)
            pedestal[k] = np.clip(pedestal[k] + f.pedestal_jump_adc, 0, self.detector.adc_max)
        return gains, pedestal, self._channel(f.hot_channel) if f.hot_channel else None

    def _channel(self, name: str) -> int:
        try:
            return self.detector.index(name)
        except KeyError:
            raise ConfigError(f"faults: no channel {name!r} in the detector map") from None

    def params_for_spill(self, spill: int) -> np.ndarray:
        """The physics parameters of a spill: in a calibration scan, aimed at its cell."""
        b = self.cfg.beam
        if not b.scan_ecal:
            return self.params
        p = self.params.copy()
        _, ny, nx = self.geometry.ecal.shape  # [section, y, x]
        p["aim_x"], p["aim_y"] = (spill - 1) % nx, (spill - 1) // nx % ny
        return p

    def _truth(self, ev, trig, cls, offsets, part_cls, part_time, dep, phase, gain):
        n = len(ev)
        in_time = trig != TriggerKind.RANDOM  # LED events: the flash, in GeV-equivalent
        first = offsets[:-1]
        deposit = np.zeros((n, self.detector.n_channels), np.float32)
        deposit[in_time] = dep[first[in_time]]
        # pileup: every particle but the in-time one
        is_pile = np.ones(len(part_cls), bool)
        is_pile[first[in_time]] = False
        pile_event = np.repeat(np.arange(n), np.diff(offsets))[is_pile]
        pile_time = part_time[is_pile]
        window_lo = -self.cfg.digitizer.trigger_offset_ns
        n_pileup = np.bincount(pile_event, minlength=n)
        n_window = np.bincount(pile_event[pile_time >= window_lo], minlength=n)
        det = self.detector
        return {
            "event": ev["event"].copy(),
            "trigger": ev["trigger"].copy(),
            "class": cls.astype(np.int8),
            "deposit_gev": deposit,
            "e_ecal_gev": deposit[:, det.ecal].sum(1),
            "e_preshower_gev": deposit[:, det.ecal_preshower].sum(1),
            "e_hcal_module_gev": np.stack(
                [deposit[:, det.hcal_module(m)].sum(1) for m in range(4)], axis=1),
            "t_peak_ns": (self.cfg.digitizer.trigger_offset_ns + phase).astype(np.float32),
            "gain_factor": gain.astype(np.float32),
            "n_pileup": n_pileup.astype(np.int32),
            "n_pileup_window": n_window.astype(np.int32),
            "pileup_event": pile_event.astype(np.int32),  # index within the batch
            "pileup_time_ns": pile_time.astype(np.float32),
            "pileup_class": part_cls[is_pile].astype(np.int8),
        }

    # -- frames --------------------------------------------------------------------------------
    def frames(self, source_ids: Iterable[int] | None = None,
               spills: Iterable[int] | None = None) -> Iterator[tuple[float, int, list]]:
        """``(emit_time_s, source_id, message parts)`` of the whole run, in emission order.

        ``emit_time_s`` is when real hardware would send the frame, since the start of the run
        (used to pace real-time mode); truth is on :meth:`batches`, never in frames.
        """
        for item in self.stream(source_ids, spills):
            if isinstance(item, tuple):
                yield item

    def stream(self, source_ids: Iterable[int] | None = None, spills: Iterable[int] | None = None,
               ) -> Iterator[tuple[float, int, list] | Batch | SpillPlan]:
        """Frames as in :meth:`frames`, each batch's frames preceded by the :class:`Batch` (with
        its truth) and each spill's EOS frames followed by its :class:`SpillPlan`."""
        c = self.cfg
        ids = list(self.detector.source_ids if source_ids is None else source_ids)
        numbers = range(1, c.run.spills + 1) if spills is None else spills
        plans = (self.spill_plan(n) for n in numbers)
        items = run_sequence(c.run.number, self.detector, ids, c.run.start_time_ns,
                             ((plan, self.batches(plan, ids)) for plan in plans))
        f = c.faults
        return crate_faults(items, f) if f.lag_source or f.reset_source else items


def crate_faults(items: Iterator, faults) -> Iterator:
    """The frames of a crate that lags (``lag_source``: each frame ``lag_s`` late) or whose
    event counter restarts (``reset_source``: after its first batch of a spill, its events are
    numbered from the spill's first again), in the spills the faults are on."""
    spill = 0
    firsts: dict[int, list] = {}  # spill -> [first event, offset] of the resetting crate
    for item in items:
        if isinstance(item, tuple):
            t, sid, parts = item
            kind = peek(parts)[0]
            if kind is FrameKind.SOS:
                spill = decode(parts).spill
            if faults.on(spill):
                if sid == faults.lag_source and kind is not FrameKind.SOR:
                    t += faults.lag_s
                if sid == faults.reset_source and kind is FrameKind.EVENTS:
                    parts = _renumbered(parts, firsts)
            item = (t, sid, parts)
        yield item


def _renumbered(parts: list, firsts: dict[int, list]) -> list:
    frame = decode(parts)
    first = int(frame.events["event"][0])
    start = firsts.setdefault(frame.spill, [first, None])
    if start[1] is None and first != start[0]:
        start[1] = first - start[0]  # its second batch: the counter restarts here
    if start[1] is None:
        return parts
    events = frame.events.copy()
    events["event"] -= start[1]
    return encode_events(frame.run, frame.spill, frame.source_id, frame.time_ns, events,
                         frame.samples)


def run_sequence(run: int, detector: Detector, source_ids: list[int], start_ns: int,
                 spills: Iterable[tuple[SpillPlan, Iterable[Batch]]],
                 ) -> Iterator[tuple[float, int, list] | Batch | SpillPlan]:
    """The frames of a run, per source: SOR, per spill SOS, EVENTS..., EOS, then EOR.

    Items are ``(emit_time_s, source_id, parts)``, where ``emit_time_s`` is when the hardware
    would send the frame (since the start of the run), interleaved with each :class:`Batch`
    (before its frames) and each :class:`SpillPlan` (after its EOS frames). Shared by the
    emulator and the replay, so that both send the same frames.
    """
    n_s = detector.samples_per_channel
    n_ch = {sid: len(detector.source(sid).channels) for sid in source_ids}
    totals = dict.fromkeys(source_ids, 0)

    def control(kind: FrameKind, spill: int, sid: int, time_ns: int, n: int | None = None):
        info = None if n is None else {"triggered": n, "sent": n, "not_sent": 0}
        return encode_control(kind, run, spill, sid, n_ch[sid], n_s, time_ns, info)

    for sid in source_ids:
        yield 0.0, sid, control(FrameKind.SOR, 0, sid, start_ns)
    last_ns = start_ns
    for plan, batches in spills:
        t_sos = (plan.start_ns - start_ns) * 1e-9
        for sid in source_ids:
            yield t_sos, sid, control(FrameKind.SOS, plan.spill, sid, plan.start_ns)
        for batch in batches:
            yield batch
            t_emit = t_sos + float(batch.events["trigger_time_ns"][-1]) * 1e-9
            for sid in source_ids:
                events = batch.events
                if batch.sent and sid in batch.sent:
                    events = events[batch.sent[sid]]
                    if not len(events):
                        continue
                yield t_emit, sid, encode_events(run, plan.spill, sid, plan.start_ns,
                                                 events, batch.samples[sid])
        n = len(plan.triggers)
        t_eos = (plan.end_ns - start_ns) * 1e-9
        for sid in source_ids:
            totals[sid] += n
            yield t_eos, sid, control(FrameKind.EOS, plan.spill, sid, plan.end_ns, n)
        yield plan
        last_ns = plan.end_ns
    for sid in source_ids:
        yield ((last_ns - start_ns) * 1e-9, sid,
               control(FrameKind.EOR, 0, sid, last_ns, totals[sid]))


def _hv_in_force(run: int, detector: Detector) -> dict[str, float]:
    """The HV set points the conditions database has in force for ``run``."""
    from daq.conditions import ask_database

    version = ask_database(detector, lambda c: c.lookup("hv_v", run))
    if version is None:
        raise ConfigError(f"gains.hv_from_conditions: no HV set points (hv_v) in force for run "
                          f"{run} in the conditions database ($NA64DAQ_DB)")
    return {name: v for name, v in version.values.items() if v is not None}


def _read_hv_table(path: Path, detector: Detector) -> dict[str, float]:
    from daq.core.channel_table import ValueTableError, read_value_table

    try:
        table = read_value_table(path, detector)
    except ValueTableError as exc:
        raise ConfigError(f"gains.hv_table: {exc}") from None
    for name, volts in table.items():
        if not 0 < volts <= 5000:
            raise ConfigError(f"gains.hv_table: {path}: {name} = {volts:g}: must be a number of "
                              "volts in (0, 5000]")
    return table
