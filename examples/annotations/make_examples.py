"""Generate the example annotation files of this folder (deterministic; no corpus audio).

    python examples/annotations/make_examples.py            # rewrite the example files here
    python examples/annotations/make_examples.py --calls DIR  # also write synthetic calls for `callemo select`

Files written next to this script:

* ``continuous/<call>__<annotator>.csv``: DARMA-style exports (``Second,X,Y`` on [-1000, 1000],
  one sample per 0.5 s, paper 000's set-up) of three recordings by two annotators; in ``call03``
  the second annotator is barely related to the first (low ICC, filtered out by ``--min-icc 0.7``);
* ``continuous_long.csv``: two more recordings in the long format (``file,time,annotator,valence,
  arousal`` in [-1, 1]) by three annotators at slightly different times;
* ``categorical.csv``: categorical labels of 80 segments of 8 calls by two annotators (long format);
* ``context.csv``: context annotations of 16 calls (client and agent) by two annotators.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def smooth_trace(rng, n: int, scale: float = 0.5, width: int = 12) -> np.ndarray:
    """A smooth random trace in [-1, 1] (moving-averaged noise)."""
    x = rng.standard_normal(n + 4 * width)
    k = np.hanning(2 * width + 1)
    y = np.convolve(x, k / k.sum(), mode="same")[2 * width:2 * width + n]
    return np.clip(scale * y / (np.abs(y).max() + 1e-9), -1, 1)


def continuous(rng) -> None:
    out = HERE / "continuous"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.csv"):
        old.unlink()
    dur = 60.0
    for c, (agree, shift) in enumerate([(0.9, 0.0), (0.8, 0.0), (0.1, 0.0)], start=1):
        t = np.arange(0, dur + 1e-9, 0.5)
        val, aro = smooth_trace(rng, len(t), 0.7), smooth_trace(rng, len(t), 0.6)
        for a, ann in enumerate(("ann1", "ann2")):
            own_v, own_a = smooth_trace(rng, len(t), 0.7), smooth_trace(rng, len(t), 0.6)
            w = 1.0 if a == 0 else agree
            v = w * val + (1 - w) * own_v + 0.03 * rng.standard_normal(len(t)) + (0.05 if a else 0)
            r = w * aro + (1 - w) * own_a + 0.03 * rng.standard_normal(len(t)) + (0.1 if a else 0)
            with open(out / f"call{c:02d}__{ann}.csv", "w", newline="") as f:
                wr = csv.writer(f)
                wr.writerow(["Second", "X", "Y"])
                for ti, vi, ri in zip(t + shift, v, r):
                    wr.writerow([f"{ti:.1f}", int(round(np.clip(vi, -1, 1) * 1000)),
                                 int(round(np.clip(ri, -1, 1) * 1000))])


def continuous_long(rng) -> None:
    rows = []
    for c in (4, 5):
        dur = 40.0
        tt = np.arange(0, dur, 0.05)
        val, aro = smooth_trace(rng, len(tt), 0.6, 150), smooth_trace(rng, len(tt), 0.5, 150)
        for a, ann in enumerate(("ann1", "ann2", "ann3")):
            t = np.arange(0.1 * a, dur - 0.5, 0.5)  # each annotator's tool samples at its own times
            idx = np.searchsorted(tt, t)
            for ti, k in zip(t, idx):
                rows.append([f"call{c:02d}", f"{ti:.2f}", ann,
                             f"{np.clip(val[k] + 0.05 * rng.standard_normal() + 0.03 * a, -1, 1):.3f}",
                             f"{np.clip(aro[k] + 0.05 * rng.standard_normal(), -1, 1):.3f}"])
    with open(HERE / "continuous_long.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["file", "time", "annotator", "valence", "arousal"])
        wr.writerows(rows)


def categorical(rng) -> None:
    labels = ["neutral"] * 10 + ["annoyed"] * 3 + ["angry"] * 3 + ["nervous"] * 2 + ["satisfied"] * 2 + ["sad"]
    rows = []
    for c in range(1, 9):
        t = 0.0
        for s in range(10):
            d = float(np.round(rng.uniform(2.5, 12.0), 1))
            role = "client" if s % 2 == 0 else "agent"
            true = labels[rng.integers(len(labels))]
            for ann in ("ann1", "ann2"):
                lab = true
                u = rng.random()
                if u < 0.10 and true != "neutral":
                    lab = "neutral"  # the usual disagreement: neutral vs emotional (paper 001)
                elif u < 0.16 and true == "neutral":
                    lab = ["annoyed", "nervous"][rng.integers(2)]
                elif u < 0.19 and true == "annoyed":
                    lab = "angry"
                rows.append([f"calls/call{c:02d}.wav", f"{t:.1f}", f"{t + d:.1f}", f"call{c:02d}_{role}", role, ann,
                             lab.capitalize() if ann == "ann2" else lab])
            t += d + float(np.round(rng.uniform(0.2, 1.5), 1))
    with open(HERE / "categorical.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["file", "start", "end", "speaker", "role", "annotator", "label"])
        wr.writerows(rows)


def context(rng) -> None:
    purposes = ["asking for information", "purchase", "reporting an issue", "change of booking", "cancellation"]
    rows = []
    for c in range(1, 17):
        emp_c, eng_c, emp_a = rng.uniform(2, 9), rng.uniform(3, 9), rng.uniform(4, 9)
        sat = np.clip(0.7 * emp_c + rng.normal(1.5, 1), 0, 10)
        urg = rng.uniform(0, 8)
        gender_c = ["female", "male", "unknown"][rng.choice(3, p=[0.6, 0.35, 0.05])]
        gender_a = ["female", "male"][rng.integers(2)]
        purpose = purposes[rng.integers(len(purposes))]
        resolution = ["resolved", "unresolved", "partial"][rng.choice(3, p=[0.6, 0.2, 0.2])]

        def n(m):
            return int(round(float(np.clip(m + rng.normal(0, 0.8), 0, 10))))

        for ann in ("ann1", "ann2"):
            rows.append([f"call{c:02d}", ann, "client", gender_c, n(emp_c), n(eng_c), n(sat), n(urg), purpose,
                         resolution])
            rows.append([f"call{c:02d}", ann, "agent", gender_a, n(emp_a), n(0.6 * emp_a + 3), "", "", "", ""])
    with open(HERE / "context.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["file", "annotator", "role", "gender", "empathy", "engagement", "satisfaction", "urgency",
                     "purpose", "resolution"])
        wr.writerows(rows)


def harmonic_voice(dur: float, f0: float, swing: float, seed: int, sr: int = 16000) -> np.ndarray:
    """A voiced, speech-like harmonic signal whose F0 swings by ``swing`` semitones (0.7 Hz)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur * sr)) / sr
    f = f0 * 2 ** (swing * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) / 12)
    ph = 2 * np.pi * np.cumsum(f) / sr
    y = sum((0.8 ** k) * np.sin(k * ph) for k in range(1, 15))
    env = 0.3 + 0.7 * np.sin(2 * np.pi * 3.5 * t + rng.uniform(0, 6)) ** 2
    y = y * env
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def synthetic_call(kind: str, seed: int, sr: int = 16000, turns: int = 4) -> np.ndarray:
    """Turns of a speech-like voice separated by pauses (one over 3 s). ``emotional``: each turn
    at its own F0 (110-260 Hz) with a wide swing; ``neutral``: a steady F0 near 140 Hz."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(turns):
        if kind == "emotional":
            f0, swing = rng.uniform(110, 260), rng.uniform(3, 5)
        else:
            f0, swing = 140 * rng.uniform(0.97, 1.03), 0.5
        parts.append(harmonic_voice(2.0, f0, swing, seed * 10 + k, sr))
        pause = 5.0 if k == 1 else 0.5
        parts.append((1e-4 * rng.standard_normal(int(sr * pause))).astype(np.float32))
    return np.concatenate(parts)


def calls(folder: Path, n: int = 3) -> None:
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(folder / f"neutral{i + 1}.wav", synthetic_call("neutral", i), 16000)
        sf.write(folder / f"emotional{i + 1}.wav", synthetic_call("emotional", 100 + i), 16000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=Path, help="also write synthetic calls (wav) into this folder")
    args = ap.parse_args()
    rng = np.random.default_rng(2023)
    continuous(rng)
    continuous_long(rng)
    categorical(rng)
    context(rng)
    if args.calls:
        calls(args.calls)
    print(f"wrote the examples in {HERE}" + (f" and calls in {args.calls}" if args.calls else ""))


if __name__ == "__main__":
    main()
