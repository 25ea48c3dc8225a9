"""Train the default model shipped in ``src/callemo/default_model/``.

All of RAVDESS, SAVEE and nEMO (4 classes: neutral, happy, sad, angry), every file degraded to
telephone quality (8 kHz, 300-3400 Hz, G.711 mu-law; nEMO is already 8 kHz), configuration
``default`` (the project's own features, per-speaker standardisation, a strongly regularised
logistic regression, noisy G.711 and 16 kbps MP3 copies of every file).

``--unknown-below`` (stored in the card): the confidence below which the model answers ``unknown``.
``--calibration temperature|vector|vector_balanced`` also calibrates the probabilities: for each
corpus, a model of the same configuration trained on the other two predicts it in call-like groups
(four neutral + two emotional items per speaker, each group standardised on its own,
:func:`callemo.train.calibration.call_groups`), and the calibrator fitted on these pooled held-out
predictions is stored in the card. The shipped model uses ``none``: on corpora held out from the
calibrator it did not lower the ECE (``benchmarks/categorical.py --sections incall``,
docs/models.md). The metrics in the model card come from ``benchmarks/results/categorical.json``
and ``benchmarks/results/incall.json`` (run ``benchmarks/categorical.py`` first). Example::

    OMP_NUM_THREADS=1 python benchmarks/train_default_model.py --jobs 2 --unknown-below 0.4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _incall_metrics(path: Path, config: str) -> dict:
    if not path.exists():
        return {"note": f"run benchmarks/categorical.py --sections incall to fill these in ({path} not found)"}
    r = json.loads(path.read_text())
    inc = (r.get("incall") or {}).get(config)
    if not inc:
        return {"note": f"{path} has no incall results of configuration {config!r}"}
    keep = ("ua", "neutral_called_angry", "ece", "auroc", "judged_share", "judged_accuracy")

    def rnd(v):
        return None if v is None else round(float(v), 4)

    def row(v):
        return {"single_utterance_ua": rnd(v["single_utterance_ua"]),
                "calls_raw": {k: rnd(v["raw"][k]) for k in keep},
                "calls_calibrated": {k: rnd(v["temperature"][k]) for k in keep}}

    return {"protocol": "leave-one-corpus-out at telephone quality; single_utterance_ua: each speaker's statistics "
                        "from all its items; calls_*: each held-out speaker's items in groups of 4 neutral + 2 "
                        "emotional, each group standardised on its own; calibrated = temperature fitted on the other "
                        "corpora's held-out call-group predictions (no label of the test corpus); "
                        f"judged = confidence >= {inc.get('unknown_below')}",
            "command": r.get("command"),
            "corpora": {c: row(v) for c, v in inc["corpora"].items()},
            "mean": row(inc["mean"])}


def _metrics(path: Path) -> dict:
    if not path.exists():
        return {"note": f"run benchmarks/categorical.py to fill these in ({path} not found)"}
    r = json.loads(path.read_text())

    def pick(d):
        return {k: d[k] for k in ("ua", "ua_ci", "wa", "wa_ci", "macro_f1", "macro_f1_ci") if k in d}

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
    ap.add_argument("--incall-results", default=str(ROOT / "benchmarks" / "results" / "incall.json"))
    ap.add_argument("--calibration", default="none", choices=["temperature", "vector", "vector_balanced", "none"])
    ap.add_argument("--unknown-below", type=float, default=0.5,
                    help="calibrated confidence below which the model answers 'unknown' (stored in the card)")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)

    from callemo.corpora import build_manifest
    from callemo.labels.schemes import apply_setting
    from callemo.train.fit import train_from_manifest
    from callemo.train.manifest import load_signals

    df = pd.concat([apply_setting(build_manifest(c, Path(args.data) / c), "4class")
                    for c in ("ravdess", "savee", "nemo")], ignore_index=True)
    signals = load_signals(df, 8000, telephone=True, snr_range=None, jobs=args.jobs, progress=True)
    cal, cal_card = None, {}
    if args.calibration != "none":
        from callemo.train.calibration import heldout_calibration
        from callemo.train.fit import load_config

        cfg = load_config(args.config)
        cfg["jobs"] = args.jobs
        cal, cal_card = heldout_calibration(cfg, signals, df["emotion"], df["speaker"], df["corpus"], args.calibration)
        print(f"calibration: {cal.to_dict()} {cal_card['in_sample']}", flush=True)
    out = Path(args.out)
    for f in ("model.yaml", "model.joblib"):
        (out / f).unlink(missing_ok=True)
    m = train_from_manifest(
        df, args.config, out, telephone=True, setting="4class", signals=signals, progress=True,
        metrics=_metrics(Path(args.results)),
        description="callemo default model: 4-class categorical emotion (neutral, happy, sad, angry) of 8 kHz "
                    "telephone speech segments; project's own prosodic/spectral features (no openSMILE), "
                    "per-speaker standardisation (pass the call's speaker of each segment), logistic regression",
        training_recipe="python benchmarks/train_default_model.py (all of RAVDESS, SAVEE, nEMO, 4class, "
                        "telephone: 8 kHz, 300-3400 Hz band, G.711 mu-law; plus the configuration's noise_augment "
                        "copies: noise at 10-30 dB SNR through G.711, and the same through 16 kbps MP3)",
    )
    m.card["training_data"]["manifest"] = "RAVDESS + SAVEE + nEMO (callemo corpus ...), 4class"
    inc = _incall_metrics(Path(args.incall_results), args.config)
    m.card["metrics"]["in_call_leave_one_corpus_out"] = inc
    if "corpora" in inc:  # this configuration's single-utterance leave-one-corpus-out UA (whole-speaker statistics)
        m.card["metrics"]["leave_one_corpus_out_telephone"] = {
            c: {"ua": v["single_utterance_ua"]} for c, v in inc["corpora"].items()
        }
    if cal is not None:
        m.card["calibration"] = cal_card
    m.set_calibration(cal, unknown_below=args.unknown_below)
    m.save(out)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"wrote {out}: {len(df)} items, labels {m.labels}, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
