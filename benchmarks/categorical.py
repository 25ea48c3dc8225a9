"""Categorical emotion benchmark (issue 2): 4 classes neutral / happy / sad / angry.

Sections (each with 95 % bootstrap CIs over speakers):

* ``within``: speaker-independent 5-fold CV (grouped by speaker, stratified) inside each corpus,
  for every configuration in ``--configs`` (the first is the plain baseline), with the majority
  and random baselines. RAVDESS and SAVEE at 16 kHz; nEMO at its own 8 kHz.
* ``loco``: leave-one-corpus-out (train on two corpora, test on the third) at telephone quality
  (all corpora through the 8 kHz G.711 telephone channel), for ``--tel-config``.
* ``telephone``: the wideband best configuration vs the telephone-trained configuration on
  telephone-degraded RAVDESS and SAVEE (both speaker-independent 5-fold CV).

Features are cached on disk (``$CALLEMO_CACHE``), so a second run is fast. Example::

    OMP_NUM_THREADS=1 python benchmarks/categorical.py --jobs 2 --json benchmarks/results/categorical.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ("ravdess", "savee", "nemo")


def _ci(r, key="ua"):
    v, ci = r.get(key), r.get(f"{key}_ci") or [float("nan")] * 2
    if v is None:
        return "-"
    if ci[0] is None or ci[0] != ci[0]:
        return f"{v:.3f}"
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _short(r):
    keep = ("ua", "wa", "macro_f1", "ua_ci", "wa_ci", "macro_f1_ci", "per_class_recall", "confusion", "labels", "n",
            "fold_ua_mean", "fold_ua_std")
    out = {k: r[k] for k in keep if k in r}
    if "baselines" in r:
        out["baselines"] = {k: {kk: b[kk] for kk in ("ua", "wa", "macro_f1", "ua_ci") if kk in b} for k, b in r["baselines"].items()}
    if "protocol" in r:
        out["protocol"] = {k: v for k, v in r["protocol"].items() if k != "config"}
    return out


class Bench:
    def __init__(self, args):
        from callemo.corpora import build_manifest
        from callemo.labels.schemes import apply_setting

        self.args = args
        self.data = Path(args.data)
        self.df = {}
        for c in args.corpora:
            d = build_manifest(c, self.data / c)
            self.df[c] = apply_setting(d, "4class").reset_index(drop=True)
        self._signals = {}

    def signals(self, corpus, sr, telephone):
        from callemo.train.manifest import load_signals

        key = (corpus, sr, telephone)
        if key not in self._signals:
            t = time.time()
            self._signals[key] = load_signals(self.df[corpus], sr, telephone=telephone, jobs=self.args.jobs,
                                              snr_range=self.args.snr if telephone else None)
            print(f"  loaded {corpus} at {sr} Hz{' (telephone)' if telephone else ''}: {len(self._signals[key])} items, "
                  f"{time.time() - t:.0f} s", file=sys.stderr, flush=True)
        return self._signals[key]

    def config(self, name, rate=None):
        from callemo.train.fit import load_config

        cfg = load_config(name)
        cfg["jobs"] = self.args.jobs
        if rate:
            cfg["sample_rate"] = rate
            if "members" in cfg:
                cfg["members"] = [dict(m, sample_rate=rate) for m in cfg["members"]]
        return cfg

    def crossval(self, corpus, cfg_name, telephone=False):
        from callemo.evaluate.protocol import crossval

        native8k = corpus == "nemo"
        rate = 8000 if (telephone or native8k) else None
        cfg = self.config(cfg_name, rate)
        sr = int(cfg.get("sample_rate", 16000))
        sig = self.signals(corpus, sr, telephone)
        t = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = crossval(self.df[corpus], cfg, group="speaker", k=self.args.folds, seed=self.args.seed, signals=sig,
                         telephone=telephone, n_boot=self.args.n_boot, progress=False, sr=sr)
        print(f"  {corpus:8s} {cfg_name:22s} {'tel' if telephone else 'wb ':3s} UA {r['ua']:.3f} ({time.time() - t:.0f} s)",
              file=sys.stderr, flush=True)
        return r

    def loco(self, cfg_name):
        from callemo.evaluate.protocol import leave_one_corpus_out

        cfg = self.config(cfg_name, 8000)
        df = pd.concat([self.df[c] for c in self.args.corpora], ignore_index=True)
        sig = [s for c in self.args.corpora for s in self.signals(c, 8000, True)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return leave_one_corpus_out(df, cfg, signals=sig, telephone=True, n_boot=self.args.n_boot, progress=False,
                                        seed=self.args.seed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder holding ravdess/, savee/, nemo/")
    ap.add_argument("--corpora", default=",".join(CORPORA))
    ap.add_argument("--configs", default="svm_baseline,svm_speaker,svm_whisper_wb", help="within-corpus configurations (first = baseline)")
    ap.add_argument("--best", default=None, help="wideband best configuration (default: the last of --configs)")
    ap.add_argument("--tel-config", default="default", help="telephone (8 kHz) configuration for LOCO and telephone rows")
    ap.add_argument("--sections", default="within,loco,telephone")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--snr", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                    help="add noise at an SNR drawn in [LOW, HIGH] dB to the telephone audio (default: codec only)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "categorical.json"))
    args = ap.parse_args(argv)
    args.corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    best = args.best or configs[-1]
    sections = {s.strip() for s in args.sections.split(",")}
    if args.snr is not None:
        args.snr = tuple(args.snr)

    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(Console().width, 140))
    bench = Bench(args)
    t0 = time.time()
    results = {"command": "python benchmarks/categorical.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "protocol": f"4 classes (neutral, happy, sad, angry); speaker-independent {args.folds}-fold CV grouped by speaker "
                           f"(stratified), seed {args.seed}; 95% percentile bootstrap CIs over speakers (n_boot={args.n_boot}); "
                           "RAVDESS/SAVEE at 16 kHz, nEMO at its native 8 kHz; telephone = 8 kHz, 300-3400 Hz, G.711 mu-law"
                           + (f", noise SNR {args.snr[0]}-{args.snr[1]} dB" if args.snr else " (no added noise)"),
               "within": {}, "loco": None, "telephone": {}}
    wb_cache = {}

    if "within" in sections:
        t = Table(title="Within-corpus, speaker-independent 5-fold CV (4 classes)")
        for col in ("corpus", "system", "UA [95% CI]", "WA [95% CI]", "macro-F1 [95% CI]"):
            t.add_column(col)
        for c in args.corpora:
            results["within"][c] = {}
            for i, name in enumerate(configs):
                r = bench.crossval(c, name)
                wb_cache[(c, name)] = r
                results["within"][c][name] = _short(r)
                t.add_row(c if i == 0 else "", name, _ci(r, "ua"), _ci(r, "wa"), _ci(r, "macro_f1"))
            for b in ("majority", "random"):
                br = r["baselines"][b]
                t.add_row("", f"({b} baseline)", _ci(br, "ua"), _ci(br, "wa"), _ci(br, "macro_f1"))
            if len(configs) > 1:
                gain = results["within"][c][best]["ua"] - results["within"][c][configs[0]]["ua"]
                results["within"][c]["gain_ua_points"] = round(100 * gain, 1)
                t.add_row("", f"gain of {best} over {configs[0]}", f"{100 * gain:+.1f} points", "", "")
            t.add_section()
        con.print(t)

    if "loco" in sections and len(args.corpora) >= 2:
        r = bench.loco(args.tel_config)
        results["loco"] = {"config": args.tel_config, "mean_ua": r["ua"], "mean_ua_ci": r["ua_ci"],
                           "corpora": {k: _short(v) for k, v in r["corpora"].items()}, "protocol": _short(r)["protocol"]}
        t = Table(title=f"Leave-one-corpus-out ({args.tel_config}, telephone 8 kHz): train on the others, test on one")
        for col in ("held-out corpus", "n train", "UA [95% CI]", "WA [95% CI]", "macro-F1 [95% CI]", "majority UA"):
            t.add_column(col)
        for k, v in r["corpora"].items():
            t.add_row(k, str(v.get("n_train", "")), _ci(v, "ua"), _ci(v, "wa"), _ci(v, "macro_f1"),
                      f"{v['baselines']['majority']['ua']:.3f}")
        t.add_row("mean", "", _ci(r, "ua"), _ci(r, "wa"), _ci(r, "macro_f1"), "")
        con.print(t)

    if "telephone" in sections:
        t = Table(title=f"Wideband ({best}, 16 kHz) vs telephone-trained ({args.tel_config}, 8 kHz G.711), speaker-independent 5-fold CV")
        for col in ("corpus", "wideband UA", "telephone UA", "difference"):
            t.add_column(col)
        for c in [c for c in args.corpora if c != "nemo"]:
            wb = wb_cache.get((c, best)) or bench.crossval(c, best)
            tel = bench.crossval(c, args.tel_config, telephone=True)
            d = tel["ua"] - wb["ua"]
            results["telephone"][c] = {"wideband": _short(wb), "telephone": _short(tel), "difference_ua_points": round(100 * d, 1)}
            t.add_row(c, _ci(wb), _ci(tel), f"{100 * d:+.1f} points")
        con.print(t)

    results["seconds"] = round(time.time() - t0, 1)
    if args.json:
        p = Path(args.json)
        p.parent.mkdir(parents=True, exist_ok=True)
        from callemo.evaluate.protocol import _plain

        p.write_text(json.dumps(_plain(results), indent=2))
        con.print(f"wrote {p} ({results['seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
