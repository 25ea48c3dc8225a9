"""Turn boundaries and missed speech of the VAD on real utterances at 8 kHz G.711 (issue 9 item 3).

40 RAVDESS neutral and sad utterances (random, seed 0), each levelled to -26 or -40 dBFS between
1 s and 1.5 s of silence, band-limited noise 23 dB below the speech, G.711 mu-law at 8 kHz.
Reference turn: first to last 10 ms frame within 35 dB of the clean wideband utterance's peak.
Prints the median onset and end offsets (seconds, positive = late), the 90th percentile of the end
offset, and the mean / max share of the reference turn that was not detected.

    OMP_NUM_THREADS=1 python benchmarks/vad_boundaries.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np
import soundfile as sf

from callemo.io import resample
from callemo.io.telephone import bandpass, mulaw
from callemo.prep.vad import VADSettings, speech_regions


def reference(x: np.ndarray, sr: int) -> tuple[float, float]:
    hop = int(0.01 * sr)
    n = len(x) // hop
    db = 10 * np.log10((x[: n * hop].reshape(n, hop) ** 2).mean(1) + 1e-12)
    on = np.flatnonzero(db > db.max() - 35)
    return on[0] * hop / sr, (on[-1] + 1) * hop / sr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    files = sorted(glob.glob(f"{args.data}/ravdess/Actor_*/03-01-0[14]-01-*.flac"))
    if not files:
        raise SystemExit(f"no RAVDESS files under {args.data}/ravdess")
    files = [files[i] for i in rng.choice(len(files), min(args.n, len(files)), replace=False)]
    settings = VADSettings()
    for level in (-26.0, -40.0):
        onsets, ends, missed = [], [], []
        for f in files:
            x, sr = sf.read(f, dtype="float32")
            s, e = reference(x, sr)
            y = resample(x, sr, 8000)
            y = y / (np.sqrt(np.mean(y[int(s * 8000): int(e * 8000)] ** 2)) + 1e-9) * 10 ** (level / 20)
            sig = np.concatenate([np.zeros(8000), y, np.zeros(12000)]).astype(np.float32)
            noise = bandpass(rng.standard_normal(len(sig)).astype(np.float32))
            noise *= 10 ** ((level - 23) / 20) / np.sqrt(np.mean(noise**2))
            regs = speech_regions(mulaw(bandpass(sig) + noise), 8000, settings)
            ts, te = s + 1.0, e + 1.0
            missed.append(1 - sum(max(0.0, min(b, te) - max(a, ts)) for a, b in regs) / (te - ts))
            if regs:
                onsets.append(regs[0][0] - ts)
                ends.append(regs[-1][1] - te)
        print(f"level {level:+.0f} dBFS: n={len(files)} onset median {np.median(onsets):+.3f} s, end median "
              f"{np.median(ends):+.3f} s, end p90 {np.percentile(ends, 90):+.3f} s, missed speech mean "
              f"{np.mean(missed):.3f} (max {np.max(missed):.2f})")


if __name__ == "__main__":
    main()
