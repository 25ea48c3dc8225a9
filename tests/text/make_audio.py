#!/usr/bin/env python3
"""Make the transcription tests' audio: ``data/pii.wav``, a short espeak-ng English recording full of
personal data (16 kHz mono mu-law), for the redaction tests, and ``data/de.wav``, a German sentence for
the language detection. The texts are ours, CC0. Needs ``espeak-ng`` only to *make* the files
(``python tests/text/make_audio.py``); the committed files need nothing."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

#: what the recording says (the card number passes the Luhn check; the phone number is fictional)
TEXT = ("My card number is four one one one, one one one one, one one one one, one one one one. "
        "You can email me at john dot smith at gmail dot com. "
        "Or call me on zero two zero, seven nine four six, zero nine five eight.")
#: a German sentence (ours, CC0)
TEXT_DE = "Guten Tag, ich möchte meine Rechnung bezahlen, aber die Überweisung hat nicht funktioniert."
DATA = Path(__file__).resolve().parent / "data"


def speak(text: str, voice: str, out: Path, speed: int = 130) -> None:
    import soundfile as sf

    from callemo.io import load_audio

    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "a.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", "45", "-w", str(wav), text], check=True)
        x, _ = load_audio(wav, 16000)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), 0.8 * x / max(1e-9, float(abs(x).max())), 16000, subtype="ULAW")


def main() -> None:
    speak(TEXT, "en-us", DATA / "pii.wav")
    speak(TEXT_DE, "de", DATA / "de.wav", speed=150)


if __name__ == "__main__":
    main()
