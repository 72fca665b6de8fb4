"""MSADC emulator: beam, detector response and waveforms that look like beam time."""
