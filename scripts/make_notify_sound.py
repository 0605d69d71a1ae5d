"""Writes static/notify.wav, the dashboard's notification sound: two short soft tones (8 kHz, 8-bit mono,
about 2 KB). Run it again after changing the notes: `python3 scripts/make_notify_sound.py`."""

from __future__ import annotations

import math
import wave
from pathlib import Path

RATE = 8000
NOTES = ((880.0, 0.09), (1320.0, 0.13))  # A5 then E6, in seconds
VOLUME = 0.35
OUT = Path(__file__).resolve().parent.parent / "static" / "notify.wav"


def samples() -> bytes:
    out = bytearray()
    for frequency, seconds in NOTES:
        count = int(RATE * seconds)
        for i in range(count):
            fade = min(1.0, i / (RATE * 0.005), (count - i) / (RATE * 0.03))  # no clicks at either end
            value = VOLUME * fade * math.sin(2 * math.pi * frequency * i / RATE)
            out.append(int(128 + 127 * value))
    return bytes(out)


def main() -> None:
    with wave.open(str(OUT), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(1)
        sound.setframerate(RATE)
        sound.writeframes(samples())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")  # noqa: T201 - a command-line tool's one line


if __name__ == "__main__":
    main()
