"""Train the default model shipped in ``src/callemo/default_model/``.

All of RAVDESS, SAVEE and nEMO (4 classes: neutral, happy, sad, angry), every file degraded to
telephone quality (8 kHz, 300-3400 Hz, G.711 mu-law; nEMO is already 8 kHz), configuration
``default`` (the project's own features, per-speaker standardisation, RBF SVM). The metrics in the
model card come from ``benchmarks/results/categorical.json`` (run ``benchmarks/categorical.py``
first). Example::

    OMP_NUM_THREADS=1 python benchmarks/train_default_model.py --jobs 2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _metrics(path: Path) -> dict:
    if not path.exists():
        return {"note": f"run benchmarks/categorical.py to fill these in ({path} not found)"}
    r = json.loads(path.read_text())
    pick = lambda d: {k: d[k] for k in ("ua", "ua_ci", "wa", "wa_ci", "macro_f1", "macro_f1_ci") if k in d}  # noqa: E731
    out = {"protocol": r.get("protocol"), "command": r.get("command")}
    tel = r.get("telephone") or {}
    out["within_corpus_telephone_5fold"] = {c: pick(v["telephone"]) for c, v in tel.items()}
    within = r.get("within") or {}
    if "nemo" in within:
        cfg = [k for k in within["nemo"] if k not in ("svm_baseline", "gain_ua_points")]
        if cfg:
            out["within_corpus_telephone_5fold"]["nemo"] = pick(within["nemo"][cfg[-1]])
    if r.get("loco"):
        out["leave_one_corpus_out_telephone"] = {c: pick(v) for c, v in r["loco"]["corpora"].items()}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(ROOT / "src" / "callemo" / "default_model"))
    ap.add_argument("--config", default="default")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "categorical.json"))
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)

    from callemo.corpora import build_manifest
    from callemo.labels.schemes import apply_setting
    from callemo.train.fit import train_from_manifest
    from callemo.train.manifest import load_signals

    df = pd.concat([apply_setting(build_manifest(c, Path(args.data) / c), "4class") for c in ("ravdess", "savee", "nemo")],
                   ignore_index=True)
    signals = load_signals(df, 8000, telephone=True, snr_range=None, jobs=args.jobs, progress=True)
    out = Path(args.out)
    for f in ("model.yaml", "model.joblib"):
        (out / f).unlink(missing_ok=True)
    m = train_from_manifest(
        df, args.config, out, telephone=True, setting="4class", signals=signals, progress=True,
        metrics=_metrics(Path(args.results)),
        description="callemo default model: 4-class categorical emotion (neutral, happy, sad, angry) of 8 kHz "
                    "telephone speech segments; project's own prosodic/spectral features (no openSMILE), "
                    "per-speaker standardisation (pass the call's speaker of each segment), RBF SVM",
        training_recipe="python benchmarks/train_default_model.py (all of RAVDESS, SAVEE, nEMO, 4class, "
                        "telephone: 8 kHz, 300-3400 Hz band, G.711 mu-law, no added noise)",
    )
    m.card["training_data"]["manifest"] = "RAVDESS + SAVEE + nEMO (callemo corpus ...), 4class"
    m.save(out)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"wrote {out}: {len(df)} items, labels {m.labels}, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
