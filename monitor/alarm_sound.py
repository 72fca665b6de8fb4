"""The sound a night shift hears (``docs/monitor.md``): a tone on each new unacknowledged
major alarm and when the data go STALE, repeated every REPEAT_S while one stays so, unless
the crew silenced it for a while."""

from __future__ import annotations

import math
import struct
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path

REPEAT_S = 120.0
SILENCE_MINUTES = 15


class AlarmSound:
    def __init__(self, player: Callable[[], None] | None = None):
        """``player()`` makes the sound (default: :func:`qt_player`)."""
        self.player = player or qt_player()
        self.heard: set[str] = set()  # what the last sound was for
        self.last_played: float | None = None
        self.silenced_until: float | None = None
        self.played: list[tuple[float, str]] = []  # (time, why), the latest 100

    def update(self, wanting: set[str], now: float) -> bool:
        """``wanting``: the unacknowledged major alarms (and ``STALE``) now; sounds for a new
        one, or again after REPEAT_S while any stays. True when it sounded."""
        new = wanting - self.heard
        self.heard = set(wanting)
        if not wanting or self.silenced(now):
            return False
        due = self.last_played is not None and now - self.last_played >= REPEAT_S
        if not new and not due:
            return False
        self.last_played = now
        self.played.append((now, ", ".join(sorted(new or wanting))))
        del self.played[:-100]
        self.player()
        return True

    def silence(self, now: float, minutes: float = SILENCE_MINUTES) -> None:
        self.silenced_until = now + 60.0 * minutes

    def silenced(self, now: float) -> bool:
        return self.silenced_until is not None and now < self.silenced_until


def tone_file(path: Path, hz: float = 880.0, seconds: float = 0.6, rate: int = 22050) -> Path:
    """Two short beeps as a WAV file."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        on = (t % 0.3) < 0.2
        frames += struct.pack("<h", int(12000 * math.sin(2 * math.pi * hz * t)) if on else 0)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


def qt_player() -> Callable[[], None]:
    """A WAV tone through QtMultimedia where it loads (Debian: libpulse-mainloop-glib0), else
    the display's bell."""
    from PyQt5 import QtCore, QtWidgets

    try:
        from PyQt5 import QtMultimedia
    except ImportError:
        return QtWidgets.QApplication.beep
    # the application owns it: destroyed with it, not after it at the interpreter's exit
    effect = QtMultimedia.QSoundEffect(QtWidgets.QApplication.instance())
    path = tone_file(Path(tempfile.mkdtemp(prefix="na64daq-sound-")) / "alarm.wav")
    effect.setSource(QtCore.QUrl.fromLocalFile(str(path)))
    effect.setVolume(0.8)
    return effect.play
