"""Feature-extraction speed of the default model's features on one core (x real time).

Measures CPU time (``time.process_time``, so other processes on the machine do not distort it)
of the extractors named in a model card (default: the shipped model), on telephone-quality 8 kHz
audio: files from a shared corpus when available, else generated speech-like signals. Example::

    OMP_NUM_THREADS=1 python benchmarks/feature_speed.py --files 200
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    ap.add_argument("--files", type=int, default=200, help="how many corpus files to time")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ravdess"))
    args = ap.parse_args(argv)

    from callemo.features import get_extractor
    from callemo.io import load_audio, telephone
    from callemo.models.base import default_model_dir, read_card

    card = read_card(args.model or default_model_dir())
    sr = int(card.get("sample_rate", 8000))
    extractors = [get_extractor(p) for p in card["features"]]
    files = sorted(Path(args.data).rglob("*.flac"))[: args.files] if Path(args.data).is_dir() else []
    signals = []
    if files:
        for f in files:
            x, fsr = load_audio(f)
            y, tsr = telephone(x, fsr)
            signals.append(y if sr == tsr else load_audio(f, sr=sr)[0])
        source = f"{len(files)} files of {args.data} through the telephone channel"
    else:
        import sys

        sys.path.insert(0, str(ROOT / "tests"))
        from helpers.voices import synth_voice

        signals = [synth_voice(3.0, sr=sr, seed=i, f0=100 + i % 150) for i in range(args.files)]
        source = f"{len(signals)} generated 3 s signals"
    audio_s = sum(len(s) for s in signals) / sr
    for e in extractors:  # warm-up (imports, filter banks)
        e.process_signal(signals[0], sr)
    t = time.process_time()
    w = time.perf_counter()
    for s in signals:
        for e in extractors:
            e.process_signal(s, sr)
    cpu = time.process_time() - t
    wall = time.perf_counter() - w
    names = ", ".join(e.name for e in extractors)
    print(f"features [{names}] at {sr} Hz on {source}: {audio_s:.0f} s of audio")
    print(f"one core: {cpu:.2f} s CPU ({wall:.2f} s wall) -> {audio_s / cpu:.0f}x real time "
          f"({1000 * cpu / len(signals):.1f} ms per segment)")
    return audio_s / cpu


if __name__ == "__main__":
    main()
