#!/usr/bin/env python3
"""Make ``examples/call.wav``: a short synthetic customer-service call (just under a minute).

Two espeak-ng voices read a call script (greeting, complaint, resolution): the agent is
``en-us`` (male, steady pitch and rate); the client is the ``en-gb+f4`` female variant, speaking
higher, faster and louder while complaining and calming down once the problem is solved. The turns
are joined with short natural gaps and one 6 s hold (the agent checks the account), then the
whole call goes through ``callemo.io.telephone`` (8 kHz, 300-3400 Hz band, light noise, G.711
mu-law) and is written as 8 kHz mono mu-law WAV.

Needs the ``espeak-ng`` program (Debian: ``apt-get install espeak-ng``) only to *make* the file;
the committed ``call.wav`` needs nothing. Run from the project root::

    python examples/make_example_call.py            # writes examples/call.wav
    python examples/make_example_call.py -o /tmp/x.wav --seed 1
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: espeak-ng settings per speaking style: voice, pitch (0-99), speed (words/min), amplitude (0-200)
VOICES = {
    "agent": dict(voice="en-us", pitch=38, speed=175, amplitude=110),
    "client_angry": dict(voice="en-gb+f4", pitch=82, speed=190, amplitude=190),
    "client_upset": dict(voice="en-gb+f4", pitch=70, speed=175, amplitude=160),
    "client_calm": dict(voice="en-gb+f4", pitch=55, speed=150, amplitude=120),
}

#: (style, text, pause after in seconds). The text is ours, released under CC0.
SCRIPT = [
    ("agent", "Good morning, thank you for calling Northwind Energy. My name is Daniel. "
              "How can I help you today?", 0.6),
    ("client_angry", "Finally! I have been on hold for forty minutes. You charged me twice this month, "
                     "and this is the third time I am calling about it!", 0.5),
    ("agent", "I am sorry to hear that. Let me look into it right away. Can I have your account number, please?", 0.5),
    ("client_upset", "It is seven, four, two, nine, one, five. Nobody ever fixes anything here.", 0.7),
    ("agent", "Thank you. Please hold for a moment while I check your account.", 6.0),
    ("agent", "Thank you for waiting. I can see the double payment. I have refunded the second charge, "
              "and it will be back on your card within three days.", 0.5),
    ("client_calm", "Oh, okay. That is good to hear. Thank you.", 0.4),
    ("agent", "You are welcome. Is there anything else I can do for you?", 0.5),
    ("client_calm", "No, that is all. Thanks for your help, Daniel. Have a nice day.", 0.4),
    ("agent", "You too. Goodbye.", 0.3),
]


def speak(text: str, voice: str, pitch: int, speed: int, amplitude: int, exe: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "u.wav"
        subprocess.run([exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "-a", str(amplitude),
                        "-w", str(wav), text], check=True, capture_output=True)
        x, sr = sf.read(str(wav), dtype="float32")
    # trim espeak's leading/trailing silence so gaps are ours
    idx = np.flatnonzero(np.abs(x) > 0.01)
    if len(idx):
        x = x[max(0, idx[0] - int(0.02 * sr)): idx[-1] + int(0.05 * sr)]
    return x, sr


def build(seed: int = 0, snr_db: float = 35.0) -> tuple[np.ndarray, int, list[tuple[float, float, str, str]]]:
    from callemo.io import resample, telephone

    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("espeak-ng is needed to make the example call (Debian: apt-get install espeak-ng)")
    sr = 16000
    parts, truth, t = [np.zeros(int(0.5 * sr), np.float32)], [], 0.5
    for style, text, pause in SCRIPT:
        x, xsr = speak(text, exe=exe, **VOICES[style])
        x = resample(x, xsr, sr)
        truth.append((t, t + len(x) / sr, style.split("_")[0], style))
        parts += [x, np.zeros(int(pause * sr), np.float32)]
        t += len(x) / sr + pause
    call = np.concatenate(parts)
    call = 0.5 * call / (np.max(np.abs(call)) + 1e-9)
    y, ysr = telephone(call, sr, snr_db=snr_db, rng=np.random.default_rng(seed))
    return y, ysr, truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=HERE / "call.wav")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--truth", type=Path, default=None, help="also write the turn times (CSV)")
    a = ap.parse_args()
    import soundfile as sf

    y, sr, truth = build(a.seed)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(a.out), y, sr, subtype="ULAW")
    print(f"{a.out}: {len(y) / sr:.1f} s, {sr} Hz, {a.out.stat().st_size / 1024:.0f} KiB")
    if a.truth:
        with open(a.truth, "w") as f:
            f.write("start,end,role,style\n")
            for s, e, role, style in truth:
                f.write(f"{s:.2f},{e:.2f},{role},{style}\n")


if __name__ == "__main__":
    main()
