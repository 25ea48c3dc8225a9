"""Categorical emotion benchmark (issue 2): 4 classes neutral / happy / sad / angry.

Sections (each with 95 % bootstrap CIs over speakers):

* ``within``: speaker-independent 5-fold CV (grouped by speaker, stratified) inside each corpus,
  for every configuration in ``--configs`` (the first is the plain baseline), with the majority
  and random baselines. RAVDESS and SAVEE at 16 kHz; nEMO at its own 8 kHz.
* ``loco``: leave-one-corpus-out (train on two corpora, test on the third) at telephone quality
  (all corpora through the 8 kHz G.711 telephone channel), for ``--tel-config``.
* ``telephone``: the wideband best configuration vs the telephone-trained configuration on
  telephone-degraded RAVDESS and SAVEE (both speaker-independent 5-fold CV).
* ``incall``: leave-one-corpus-out at telephone quality for each of ``--incall-configs``, with the
  speaker statistics a call gives: each held-out speaker's items in groups of six (four neutral, two
  emotional, :func:`callemo.train.calibration.call_groups`), each group standardised on its own.
  Reports UA, the share of neutral items called angry, ECE (10 bins, top label) and the AUROC of
  the confidence for "the
  prediction is right", raw and after calibration fitted on held-out corpora only (nested: for a
  test corpus, one-corpus models of the two training corpora predict each other), and the share of
  items above ``unknown_below`` with their accuracy. Single-utterance UA with whole-speaker
  statistics (the ``loco`` protocol) is given beside it.

* ``families`` (issue 13): feature families alone and fused with the acoustic reference (the first of
  ``--family-configs``, default ``default``), speaker-independent 5-fold CV inside each corpus at telephone
  quality (RAVDESS / SAVEE through the 8 kHz G.711 channel, nEMO at its native 8 kHz), with each system's UA
  and its paired difference to the reference (95 % bootstrap CI over speakers, the same resampled speakers
  for both systems).

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
        out["baselines"] = {k: {kk: b[kk] for kk in ("ua", "wa", "macro_f1", "ua_ci") if kk in b}
                            for k, b in r["baselines"].items()}
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
            print(f"  loaded {corpus} at {sr} Hz{' (telephone)' if telephone else ''}: "
                  f"{len(self._signals[key])} items, {time.time() - t:.0f} s", file=sys.stderr, flush=True)
        return self._signals[key]

    def config(self, name, rate=None):
        from callemo.train.config import load_config

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
        print(f"  {corpus:8s} {cfg_name:22s} {'tel' if telephone else 'wb ':3s} UA {r['ua']:.3f} "
              f"({time.time() - t:.0f} s)", file=sys.stderr, flush=True)
        return r

    def incall(self, cfg_name, unknown_below: float):
        """The ``incall`` section for one configuration (see the module docstring)."""
        from callemo.evaluate.metrics import expected_calibration_error, unweighted_average_recall
        from callemo.models.base import build_model
        from callemo.models.calibration import Calibrator, confidence_auroc
        from callemo.train.calibration import call_groups

        cfg = self.config(cfg_name, 8000)
        corp = list(self.args.corpora)
        sig = {c: self.signals(c, 8000, True) for c in corp}
        y = {c: self.df[c]["emotion"].astype(str).to_numpy() for c in corp}
        spk = {c: self.df[c]["speaker"].astype(str).to_numpy() for c in corp}
        groups = {c: call_groups(y[c], spk[c], seed=self.args.seed) for c in corp}
        labels = None

        fitted = {}

        def fit(cs):
            if len(cs) == 1 and cs[0] in fitted:  # a one-corpus model serves two folds
                return fitted[cs[0]]
            m = build_model(cfg)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m.fit([x for c in cs for x in sig[c]], np.concatenate([y[c] for c in cs]),
                      np.concatenate([spk[c] for c in cs]))
            if len(cs) == 1:
                fitted[cs[0]] = m
            return m

        def calls(m, c):
            rows, g = groups[c]
            return y[c][rows], m.predict_proba([sig[c][i] for i in rows], list(g))

        def score(yt, p):
            pred = np.asarray(labels)[p.argmax(axis=1)]
            neu = yt == "neutral"
            conf = p.max(axis=1)
            keep = conf >= unknown_below
            return {"ua": unweighted_average_recall(yt, pred, labels),
                    "neutral_called_angry": float(np.mean(pred[neu] == "angry")),
                    "neutral_called_emotional": float(np.mean(pred[neu] != "neutral")),
                    "ece": expected_calibration_error(yt, p, labels), "auroc": confidence_auroc(yt, p, labels),
                    "mean_confidence": float(conf.mean()), "judged_share": float(keep.mean()),
                    "judged_accuracy": float(np.mean(pred[keep] == yt[keep])) if keep.any() else None,
                    "judged_by_threshold": {
                        f"{t:.1f}": [float(np.mean(conf >= t)),
                                     float(np.mean(pred[conf >= t] == yt[conf >= t])) if (conf >= t).any() else None]
                        for t in (0.3, 0.4, 0.5, 0.6, 0.7)}}

        out, held = {}, {}
        for c in corp:
            t = time.time()
            others = [o for o in corp if o != c]
            m = fit(others)
            labels = list(m.labels)
            full = m.predict_proba(sig[c], list(spk[c]))
            yt, p = calls(m, c)
            held[c] = (yt, p)
            r = {"single_utterance_ua": unweighted_average_recall(y[c], np.asarray(labels)[full.argmax(axis=1)],
                                                                  labels),
                 "n_call_rows": int(len(yt)), "raw": score(yt, p)}
            if self.args.nested_calibration:
                # nested calibration: one-corpus models of the training corpora predict each other
                P, Y = [], []
                for a in others:
                    for b in others:
                        if a != b:
                            yb, pb = calls(fit([a]), b)
                            P.append(pb)
                            Y.append(yb)
                for meth in ("temperature", "vector"):
                    cal = Calibrator(meth, labels).fit(np.vstack(P), np.concatenate(Y))
                    r[f"nested_{meth}"] = {**score(yt, cal.transform(p)), "calibrator": cal.to_dict()}
            out[c] = r
            print(f"  incall {cfg_name} {c}: single UA {r['single_utterance_ua']:.3f}, calls UA {r['raw']['ua']:.3f}, "
                  f"n->angry {r['raw']['neutral_called_angry']:.3f}, ECE {r['raw']['ece']:.3f}, "
                  f"AUROC {r['raw']['auroc']:.3f} ({time.time() - t:.0f} s)", file=sys.stderr, flush=True)
        # calibration as the shipped model gets it: fitted on the call-group predictions of the OTHER corpora, each by
        # its own leave-one-corpus-out model (no label of the test corpus is used; its items were in those models'
        # training data, as every corpus is in the shipped model's)
        for c in corp:
            P = np.vstack([held[o][1] for o in corp if o != c])
            Y = np.concatenate([held[o][0] for o in corp if o != c])
            for meth in ("temperature", "vector", "vector_balanced"):
                cal = Calibrator(meth.split("_")[0], labels).fit(P, Y, balanced=meth.endswith("balanced"))
                out[c][meth] = {**score(held[c][0], cal.transform(held[c][1])), "calibrator": cal.to_dict()}
            print(f"  incall {cfg_name} {c}: ECE {out[c]['raw']['ece']:.3f} -> {out[c]['temperature']['ece']:.3f} (T, "
                  f"{out[c]['temperature']['calibrator']['temperature']:.2f}) {out[c]['vector']['ece']:.3f} (V)",
                  file=sys.stderr, flush=True)
        mean = {"single_utterance_ua": float(np.mean([out[c]["single_utterance_ua"] for c in corp]))}
        for k in [k for k in out[corp[0]]
                  if k in ("raw", "temperature", "vector", "vector_balanced") or k.startswith("nested_")]:
            mean[k] = {m: float(np.mean([out[c][k][m] for c in corp if out[c][k][m] is not None]))
                       for m in out[corp[0]][k] if m not in ("calibrator", "judged_by_threshold")}
        return {"config": cfg_name, "corpora": out, "mean": mean, "unknown_below": unknown_below}

    def loco(self, cfg_name):
        from callemo.evaluate.protocol import leave_one_corpus_out

        cfg = self.config(cfg_name, 8000)
        df = pd.concat([self.df[c] for c in self.args.corpora], ignore_index=True)
        sig = [s for c in self.args.corpora for s in self.signals(c, 8000, True)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return leave_one_corpus_out(df, cfg, signals=sig, telephone=True, n_boot=self.args.n_boot, progress=False,
                                        seed=self.args.seed)


def paired_difference(y, pred_a, pred_b, speakers, labels, n_boot: int, seed: int) -> dict:
    """UA of ``pred_b`` minus UA of ``pred_a`` on the same items, with a 95 % percentile bootstrap CI over
    speakers (each replicate resamples speakers with replacement and scores both systems on its items)."""
    from callemo.evaluate.metrics import unweighted_average_recall

    y, pa, pb, spk = (np.asarray(v, dtype=object).astype(str) for v in (y, pred_a, pred_b, speakers))
    rows = {s: np.flatnonzero(spk == s) for s in np.unique(spk)}
    names = list(rows)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = np.concatenate([rows[s] for s in rng.choice(names, len(names), replace=True)])
        diffs.append(unweighted_average_recall(y[idx], pb[idx], labels)
                     - unweighted_average_recall(y[idx], pa[idx], labels))
    d = unweighted_average_recall(y, pb, labels) - unweighted_average_recall(y, pa, labels)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"ua_difference": float(d), "ua_difference_ci": [float(lo), float(hi)]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                    help="folder holding ravdess/, savee/, nemo/")
    ap.add_argument("--corpora", default=",".join(CORPORA))
    ap.add_argument("--configs", default="svm_baseline,svm_speaker,svm_whisper_wb",
                    help="within-corpus configurations (first = baseline)")
    ap.add_argument("--best", default=None, help="wideband best configuration (default: the last of --configs)")
    ap.add_argument("--tel-config", default="default",
                    help="telephone (8 kHz) configuration for LOCO and telephone rows")
    ap.add_argument("--sections", default="within,loco,telephone",
                    help="within, loco, telephone, incall, families")
    ap.add_argument("--incall-configs", default="default", help="configurations for the incall section")
    ap.add_argument("--unknown-below", type=float, default=0.5,
                    help="confidence threshold reported in the incall section")
    ap.add_argument("--nested-calibration", action="store_true",
                    help="incall: also calibrate on one-corpus models of the training corpora predicting each other")
    ap.add_argument("--family-configs", default="default,svm_dvector,svm_fusion_dvector,svm_linguistic,"
                                                  "svm_fusion_linguistic",
                    help="families section: configurations (the first is the acoustic reference)")
    ap.add_argument("--family-corpora", default=None,
                    help="families section: corpora (default: --corpora)")
    ap.add_argument("--family-speakers", type=int, default=0,
                    help="families section: only the first N speakers (sorted ids) of each corpus (0 = all); "
                         "run the section alone with it")
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
               "protocol": f"4 classes (neutral, happy, sad, angry); speaker-independent {args.folds}-fold CV "
                           f"grouped by speaker (stratified), seed {args.seed}; 95% percentile bootstrap CIs over "
                           f"speakers (n_boot={args.n_boot}); RAVDESS/SAVEE at 16 kHz, nEMO at its native 8 kHz; "
                           "telephone = 8 kHz, 300-3400 Hz, G.711 mu-law"
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
                           "corpora": {k: _short(v) for k, v in r["corpora"].items()},
                           "protocol": _short(r)["protocol"]}
        t = Table(title=f"Leave-one-corpus-out ({args.tel_config}, telephone 8 kHz): train on the others, test on one")
        for col in ("held-out corpus", "n train", "UA [95% CI]", "WA [95% CI]", "macro-F1 [95% CI]", "majority UA"):
            t.add_column(col)
        for k, v in r["corpora"].items():
            t.add_row(k, str(v.get("n_train", "")), _ci(v, "ua"), _ci(v, "wa"), _ci(v, "macro_f1"),
                      f"{v['baselines']['majority']['ua']:.3f}")
        t.add_row("mean", "", _ci(r, "ua"), _ci(r, "wa"), _ci(r, "macro_f1"), "")
        con.print(t)

    if "telephone" in sections:
        t = Table(title=f"Wideband ({best}, 16 kHz) vs telephone-trained ({args.tel_config}, 8 kHz G.711), "
                        "speaker-independent 5-fold CV")
        for col in ("corpus", "wideband UA", "telephone UA", "difference"):
            t.add_column(col)
        for c in [c for c in args.corpora if c != "nemo"]:
            wb = wb_cache.get((c, best)) or bench.crossval(c, best)
            tel = bench.crossval(c, args.tel_config, telephone=True)
            d = tel["ua"] - wb["ua"]
            results["telephone"][c] = {"wideband": _short(wb), "telephone": _short(tel),
                                       "difference_ua_points": round(100 * d, 1)}
            t.add_row(c, _ci(wb), _ci(tel), f"{100 * d:+.1f} points")
        con.print(t)

    if "incall" in sections and len(args.corpora) >= 3:
        results["incall"] = {}
        t = Table(title="In-call statistics, leave-one-corpus-out (telephone 8 kHz; groups of 4 neutral + 2 "
                        "emotional items per speaker; calibration fitted on held-out corpora only)")
        for col in ("config", "held-out", "single UA", "calls UA", "neutral->angry", "ECE raw", "ECE temp.",
                    "ECE vector", "AUROC raw", "AUROC temp.", f"judged >= {args.unknown_below} (acc.)"):
            t.add_column(col)
        for name in [c.strip() for c in args.incall_configs.split(",") if c.strip()]:
            r = bench.incall(name, args.unknown_below)
            results["incall"][name] = r
            for c, v in [*r["corpora"].items(), ("mean", r["mean"])]:
                t.add_row(name if c == args.corpora[0] else "", c, f"{v['single_utterance_ua']:.3f}",
                          f"{v['raw']['ua']:.3f}", f"{v['raw']['neutral_called_angry']:.3f}", f"{v['raw']['ece']:.3f}",
                          f"{v['temperature']['ece']:.3f}", f"{v['vector']['ece']:.3f}", f"{v['raw']['auroc']:.3f}",
                          f"{v['temperature']['auroc']:.3f}",
                          f"{v['temperature']['judged_share']:.2f} "
                          f"({v['temperature']['judged_accuracy'] or float('nan'):.3f})")
            t.add_section()
        con.print(t)

    if "families" in sections:
        fam = [c.strip() for c in args.family_configs.split(",") if c.strip()]
        fcorp = [c.strip() for c in (args.family_corpora or ",".join(args.corpora)).split(",") if c.strip()]
        if args.family_speakers:
            for c in fcorp:
                d = bench.df[c]
                keep = sorted(d["speaker"].astype(str).unique())[: args.family_speakers]
                bench.df[c] = d[d["speaker"].astype(str).isin(keep)].reset_index(drop=True)
        results["families"] = {"reference": fam[0], "corpora": {}, "speakers_per_corpus": args.family_speakers or "all",
                               "protocol": "speaker-independent 5-fold CV per corpus (seed as above); RAVDESS/SAVEE "
                                           "through the telephone channel (8 kHz G.711, codec only), nEMO native 8 kHz"}
        t = Table(title=f"Feature families alone and fused with {fam[0]} (speaker-independent 5-fold CV, 8 kHz)")
        for col in ("corpus", "system", "UA [95% CI]", "macro-F1 [95% CI]", f"UA - {fam[0]} [95% CI]"):
            t.add_column(col)
        for c in fcorp:
            ref = None
            results["families"]["corpora"][c] = {}
            for i, name in enumerate(fam):
                r = bench.crossval(c, name, telephone=c != "nemo")
                row = _short(r)
                diff = ""
                if ref is None:
                    ref = r
                else:
                    spk = bench.df[c]["speaker"].astype(str).tolist()
                    pdiff = paired_difference(r["y_true"], ref["predictions"], r["predictions"], spk, r["labels"],
                                              args.n_boot, args.seed)
                    row.update(pdiff)
                    lo, hi = pdiff["ua_difference_ci"]
                    diff = f"{100 * pdiff['ua_difference']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] points"
                results["families"]["corpora"][c][name] = row
                t.add_row(c if i == 0 else "", name, _ci(r, "ua"), _ci(r, "macro_f1"), diff)
                if args.json:  # partial results survive an interrupted run
                    from callemo.utils import plain

                    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                    Path(args.json).write_text(json.dumps(plain(results), indent=2))
            t.add_section()
        con.print(t)

    results["seconds"] = round(time.time() - t0, 1)
    if args.json:
        p = Path(args.json)
        p.parent.mkdir(parents=True, exist_ok=True)
        from callemo.utils import plain

        p.write_text(json.dumps(plain(results), indent=2))
        con.print(f"wrote {p} ({results['seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
