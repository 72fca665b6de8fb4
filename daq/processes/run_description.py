"""What a run takes, in words, for the people who start and watch it: the sources, the beam
and its pace, and, for emulated runs, every fault and boost (``docs/run-control.md``). The
crew must never take an emulated fault, or a boosted yield, for the detector's."""

from __future__ import annotations

from daq.processes.daq_config import DaqConfig

BOOSTS = ("electronuclear_boost", "dimuon_boost", "signal_boost")
CHANNEL_FAULTS = {  # key -> how it reads, given the faults section
    "dead_channel": lambda f: f"dead channel {f.dead_channel}",
    "hot_channel": lambda f: f"hot channel {f.hot_channel} ({f.hot_adc:g} ADC)",
    "pedestal_channel": lambda f: f"pedestal jump {f.pedestal_jump_adc:+g} ADC in "
                                  f"{f.pedestal_channel}",
    "gain_channel": lambda f: f"gain drop {f.gain_drop_fraction:.0%} in {f.gain_channel}",
}


def emulated_departures(cfg: DaqConfig) -> list[str]:
    """The emulator's faults and boosts, one phrase each (none for other sources)."""
    if cfg.run.sources != "emulator":
        return []
    em = cfg.emulator
    out = [f"{name.removesuffix('_boost')} yield x{getattr(em.classes, name):g}"
           for name in BOOSTS if getattr(em.classes, name) != 1.0]
    if em.classes.signal_probability > 0:
        out.append(f"A' signal, {em.classes.signal_probability:g} per electron")
    f = em.faults
    if f.at_spill:
        when = f" from spill {f.at_spill}" + (f" to {f.until_spill - 1}" if f.until_spill
                                               else "")
        out += [f"fault: {text(f)}{when}" for key, text in CHANNEL_FAULTS.items()
                if getattr(f, key)]
        if f.beam_off:
            out.append(f"fault: beam off{when}")
        if f.stop_source:
            out.append(f"fault: crate {f.stop_source} stops sending{when}")
    if f.skip_source:
        out.append(f"fault: source {f.skip_source} skips every event numbered a multiple of "
                   f"{f.skip_every}")
    return out


def describe(cfg: DaqConfig) -> str:
    """One line: the sources, the beam, the pace, the spills, and the emulated departures."""
    em = cfg.emulator
    if cfg.run.sources == "external":
        return "external sources (the crates' own readout)"
    if cfg.run.sources == "replay":  # the file's beam and spills, not the emulator's
        from emulator.date_replay import is_date_file

        kind = "NA64 raw data, DATE" if is_date_file(cfg.run.replay_file) else "recorded run"
        pace = ("as fast as the DAQ takes" if em.spill.time_compressed else
                "at the recorded pace" if em.spill.pace == 1 else
                f"at {em.spill.pace:g} x the recorded pace")
        return f"replay of {cfg.run.replay_file} ({kind}), {pace}"
    what = "emulated crates"
    pace = ("time-compressed" if em.spill.time_compressed else
            "at the beam's pace" if em.spill.pace == 1 else
            f"at {em.spill.pace:g} x the beam's pace")
    text = (f"{what}, {em.beam.energy_gev:g} GeV {em.beam.particle}s, "
            f"{em.beam.intensity_per_spill:.3g} per spill, {em.run.spills} "
            f"spill{'s' if em.run.spills != 1 else ''} {pace}")
    departures = emulated_departures(cfg)
    return text + ("; EMULATED " + "; ".join(departures) if departures else "")
