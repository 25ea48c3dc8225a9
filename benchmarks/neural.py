"""Benchmark: the Temporal CNN-BiLSTM (paper 002) beside the SVMs on the SAME folds.

Within corpus (4 classes neutral/happy/sad/angry, speaker-independent k-fold from
``callemo.evaluate.folds.group_folds(df, "speaker", k, stratify="emotion", seed)`` -- exactly the folds
``callemo crossval`` uses) for each system:

* ``cnn_bilstm``  -- ``configs/cnn_bilstm.yaml`` (or ``--cnn-config``), multitask with gender;
* ``svm_plain``   -- the plain baseline: eGeMAPS functionals, global standardisation, RBF SVM C=1;
* ``svm_best``    -- ``--svm-config`` (default: the project's ``default`` configuration when present);
* ``ensemble``    -- mean of the CNN-BiLSTM's and the best SVM's class probabilities;

UA / WA / macro-F1 with 95 % bootstrap CIs over speakers, and the CNN-BiLSTM's CPU training throughput
(sub-segments per second, seconds per epoch), parameter count and wall time.

``--cross`` adds cross-corpus rows (train on one corpus, test on another, 4 classes). ``--telephone``
adds the telephone condition (audio degraded to 8 kHz G.711 with noise, the 8 kHz configuration).

Every finished row is appended to ``<out>/rows.jsonl`` (a rerun skips what is done; delete the file to
start again) and the table is rewritten to ``<out>/summary.md``. Example (the figures in docs/neural.md)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 10 python benchmarks/neural.py --corpora ravdess nemo \\
        --out results/neural
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CALLEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))

PLAIN_SVM = {"type": "svm", "name": "svm_plain", "sample_rate": 16000, "features": ["egemaps"],
             "normalisation": "global", "classifier": {"type": "svc", "C": 1.0, "gamma": "scale"}}


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def load_config(name: str) -> dict:
    from callemo.train.config import load_config as _load

    return _load(name)


def corpus_table(name: str, setting: str = "4class"):
    from callemo.corpora import build_manifest
    from callemo.labels.schemes import apply_setting

    d = apply_setting(build_manifest(name, DATA / name), setting).reset_index(drop=True)
    return d


class Signals:
    """Audio loaded once per (corpus, rate, telephone)."""

    def __init__(self):
        self.cache: dict = {}

    def get(self, key: str, d, sr: int, telephone: bool):
        from callemo.train.manifest import load_signals

        k = (key, int(sr), bool(telephone))
        if k not in self.cache:
            t0 = time.perf_counter()
            self.cache[k] = load_signals(d, int(sr), telephone=telephone, jobs=1)
            log(f"loaded {len(d)} signals of {key} at {sr} Hz{' (telephone)' if telephone else ''} "
                f"in {time.perf_counter() - t0:.0f} s")
        return self.cache[k]


def fit_predict(config: dict, signals, d, tr, te, *, gender: bool = True):
    """Fit a fresh model on ``tr`` rows, return (probabilities on ``te`` ordered as ``labels``, labels, info)."""
    from callemo.models.base import build_model
    from callemo.train.tasks import fit_model

    cfg = {k: v for k, v in config.items() if k != "name"}
    m = build_model(cfg)
    y = d["emotion"].astype(str).to_numpy()
    spk = d["speaker"].astype(str).to_numpy()
    kw = {}
    if gender and cfg.get("type") == "cnn_bilstm" and "gender" in d.columns:
        kw["gender"] = d["gender"].astype(str).to_numpy()[tr].tolist()
    t0 = time.perf_counter()
    fit_model(m, [signals[i] for i in tr], y[tr].tolist(), spk[tr].tolist(), **kw)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    p = np.asarray(m.predict_proba([signals[i] for i in te], spk[te].tolist()))
    t_pred = time.perf_counter() - t0
    info = {"fit_s": round(t_fit, 1), "predict_s": round(t_pred, 1)}
    hist = getattr(m, "history", None)
    if isinstance(hist, dict) and hist:
        info.update({k: hist.get(k) for k in ("samples_per_second", "seconds_per_epoch", "epochs_run", "best_epoch",
                                                 "aggregation", "parameters", "n_subsegments")})
    return p, list(m.labels), info


def report(y, pred, labels, speakers, seed=0):
    from callemo.evaluate.metrics import classification_report

    r = classification_report(list(y), list(pred), labels, groups=list(speakers), n_boot=1000, seed=seed)
    keys = ("ua", "wa", "macro_f1", "ua_ci", "wa_ci", "macro_f1_ci", "per_class_recall", "confusion", "labels", "n")
    return {k: r[k] for k in keys}


def run_system(name: str, config: dict, d, folds, signals, labels, *, gender=True):
    """Fold loop; returns (pooled probabilities (n, len(labels)), per-fold info)."""
    P = np.zeros((len(d), len(labels)))
    infos = []
    for i, (tr, te) in enumerate(folds):
        p, mlabels, info = fit_predict(config, signals, d, tr, te, gender=gender)
        for j, lab in enumerate(mlabels):
            if lab in labels:
                P[te, labels.index(lab)] = p[:, j]
        y = d["emotion"].astype(str).to_numpy()[te]
        pr = np.array(mlabels)[p.argmax(1)]
        ua = float(np.mean([np.mean(pr[y == c] == c) for c in np.unique(y)]))
        info.update(fold=i, ua=round(ua, 4))
        infos.append(info)
        details = {k: v for k, v in info.items() if k not in ("fold", "ua")}
        log(f"  {name} fold {i + 1}/{len(folds)}: UA {ua:.3f} {json.dumps(details)}")
    return P, infos


class Rows:
    def __init__(self, out: Path):
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / "rows.jsonl"
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        self.rows = [json.loads(line) for line in lines if line.strip()]

    def done(self, key: str) -> dict | None:
        for r in self.rows:
            if r["key"] == key:
                return r
        return None

    def add(self, row: dict) -> None:
        self.rows = [r for r in self.rows if r["key"] != row["key"]] + [row]
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        self.write_summary()

    def write_summary(self) -> None:
        lines = ["| condition | system | UA [95% CI] | WA [95% CI] | macro-F1 [95% CI] | params | train samples/s | "
                 "s/epoch | wall s |",
                 "|---|---|---|---|---|---|---|---|---|"]

        def ci(r, m):
            lo, hi = r[f"{m}_ci"]
            return f"{r[m]:.3f} [{lo:.3f}, {hi:.3f}]"

        for r in self.rows:
            th = r.get("throughput") or {}
            lines.append(f"| {r['condition']} | {r['system']} | {ci(r, 'ua')} | {ci(r, 'wa')} | {ci(r, 'macro_f1')} | "
                         f"{r.get('parameters') or ''} | {th.get('samples_per_second', '')} | "
                         f"{th.get('seconds_per_epoch', '')} | {r.get('wall_s', '')} |")
        (self.out / "summary.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)


def _throughput(infos):
    sps = [i["samples_per_second"] for i in infos if i.get("samples_per_second")]
    spe = [i["seconds_per_epoch"] for i in infos if i.get("seconds_per_epoch")]
    if not sps:
        return None
    return {"samples_per_second": round(float(np.mean(sps)), 1), "seconds_per_epoch": round(float(np.mean(spe)), 2),
            "epochs_run": [i.get("epochs_run") for i in infos], "aggregation": [i.get("aggregation") for i in infos]}


def within(corpus: str, systems: dict, args, rows: Rows, sigs: Signals, telephone: bool = False):
    from callemo.evaluate.folds import group_folds

    d = corpus_table(corpus)
    folds = group_folds(d, "speaker", k=args.folds, stratify="emotion", seed=args.seed)
    y = d["emotion"].astype(str).to_numpy()
    spk = d["speaker"].astype(str).to_numpy()
    labels = [lab for lab in ("neutral", "happy", "sad", "angry") if lab in set(y)]
    cond = f"{corpus} {args.folds}-fold{' telephone' if telephone else ''}"
    probs = {}
    for sname, cfg in systems.items():
        key = f"within|{corpus}|{telephone}|{sname}|{args.folds}|{args.seed}"
        prev = rows.done(key)
        if prev is not None and prev.get("proba_file") and Path(prev["proba_file"]).exists():
            probs[sname] = np.load(prev["proba_file"])
            log(f"skip {key} (done: UA {prev['ua']:.3f})")
            continue
        cfg = dict(cfg)
        if telephone and cfg.get("type") == "svm":
            cfg["sample_rate"] = 8000
        sr = int(cfg.get("sample_rate", 16000))
        if telephone and cfg.get("type") == "cnn_bilstm":
            sr = 8000
            cfg["sample_rate"] = 8000
        signals = sigs.get(corpus, d, sr, telephone)
        log(f"{cond}: {sname}")
        t0 = time.perf_counter()
        P, infos = run_system(sname, cfg, d, folds, signals, labels)
        wall = time.perf_counter() - t0
        pred = np.array(labels)[P.argmax(1)]
        r = report(y, pred, labels, spk, seed=args.seed)
        pf = rows.out / f"proba_{corpus}_{'tel' if telephone else 'wb'}_{sname}.npy"
        np.save(pf, P)
        probs[sname] = P
        params = next((i.get("parameters") for i in infos if i.get("parameters")), None)
        rows.add({"key": key, "condition": cond, "system": sname, **r, "folds": infos, "parameters": params,
                  "throughput": _throughput(infos), "wall_s": round(wall), "config": cfg, "proba_file": str(pf)})
    # paired bootstrap over speakers of the UA difference, CNN-BiLSTM vs each SVM, same items and folds
    if "cnn_bilstm" in probs:
        from callemo.evaluate.significance import paired_bootstrap

        pa = np.array(labels)[probs["cnn_bilstm"].argmax(1)]
        for other in ("svm_plain", "svm_best"):
            if other in probs:
                pb = np.array(labels)[probs[other].argmax(1)]
                res = paired_bootstrap(list(y), list(pa), list(pb), labels, groups=list(spk), metric="ua",
                                       n_boot=1000, seed=args.seed)
                res = {"key": f"paired|{corpus}|{telephone}|cnn_bilstm-{other}", "condition": cond, **res}
                with (rows.out / "paired.jsonl").open("a") as f:
                    f.write(json.dumps(res, default=float) + "\n")
                stats = {k: res[k] for k in res if k not in ("key", "condition")}
                log(f"{cond}: UA(cnn_bilstm) - UA({other}) = {json.dumps(stats, default=float)}")
    # ensemble of the CNN-BiLSTM and the best SVM (soft vote on the same folds)
    if "cnn_bilstm" in probs and "svm_best" in probs:
        for w in args.ensemble_weights:
            key = f"within|{corpus}|{telephone}|ensemble{w}|{args.folds}|{args.seed}"
            P = w * probs["cnn_bilstm"] + (1 - w) * probs["svm_best"]
            r = report(y, np.array(labels)[P.argmax(1)], labels, spk, seed=args.seed)
            rows.add({"key": key, "condition": cond, "system": f"ensemble (cnn {w:.2f} + svm_best)", **r})


def cross(train: str, test: str, systems: dict, args, rows: Rows, sigs: Signals):
    """Train on all of one corpus, test on another (4 classes)."""
    import pandas as pd

    a, b = corpus_table(train), corpus_table(test)
    d = pd.concat([a, b], ignore_index=True)
    tr = np.arange(len(a))
    te = np.arange(len(a), len(d))
    y = d["emotion"].astype(str).to_numpy()
    spk = d["speaker"].astype(str).to_numpy()
    labels = [lab for lab in ("neutral", "happy", "sad", "angry") if lab in set(y[te])]
    cond = f"{train} -> {test}"
    for sname, cfg in systems.items():
        key = f"cross|{train}|{test}|{sname}|{args.seed}"
        if rows.done(key):
            log(f"skip {key}")
            continue
        sr = int(cfg.get("sample_rate", 16000))
        sig = sigs.get(train, a, sr, False) + sigs.get(test, b, sr, False)
        log(f"{cond}: {sname}")
        t0 = time.perf_counter()
        P, infos = run_system(sname, cfg, d, [(tr, te)], sig, labels)
        r = report(y[te], np.array(labels)[P[te].argmax(1)], labels, spk[te], seed=args.seed)
        rows.add({"key": key, "condition": cond, "system": sname, **r, "folds": infos,
                  "throughput": _throughput(infos), "wall_s": round(time.perf_counter() - t0), "config": cfg})


def throughput(config_name: str = "cnn_bilstm", steps: int = 20, batch: int = 32, device: str = "cpu") -> dict:
    """Training steps of the CNN-BiLSTM on random 3 s sub-segments: sub-segments/s and s/step on ``device``
    (the network alone: no feature extraction, no validation)."""
    import torch

    from callemo.models.cnn_bilstm import CNNBiLSTMModel
    from callemo.models.torch_common import count_parameters, select_device
    from callemo.train.loop import make_optimizer

    cfg = load_config(config_name)
    m = CNNBiLSTMModel(cfg)
    m.labels, m.genders = ["angry", "happy", "neutral", "sad"], ["female", "male"]
    dev = select_device(device)
    net = m.build_net(3 * int(cfg["features"]["n_mels"])).to(dev).train()
    opt, _ = make_optimizer(net, lr=1e-3)
    x = torch.randn(batch, 300, 3 * int(cfg["features"]["n_mels"]), device=dev)
    lens = torch.full((batch,), 300, device=dev)
    ye = torch.randint(0, 4, (batch,), device=dev)
    ce = torch.nn.CrossEntropyLoss()
    for i in range(steps + 3):
        if i == 3:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        e, g = net(x, lens)
        loss = ce(e, ye) + ce(g, ye % 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    return {"device": str(dev), "threads": torch.get_num_threads(), "batch": batch, "s_per_step": round(dt, 4),
            "subsegments_per_s": round(batch / dt, 1), "parameters": count_parameters(net),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", nargs="*", default=["ravdess", "nemo"])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cnn-config", default="cnn_bilstm")
    ap.add_argument("--svm-config", default="default", help="the best SVM configuration (name or file); 'none' to skip")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain eGeMAPS+SVM baseline row")
    ap.add_argument("--no-cnn", action="store_true")
    ap.add_argument("--telephone", action="store_true", help="also the telephone condition (8 kHz configs)")
    ap.add_argument("--cross", nargs="*", default=None, metavar="TRAIN:TEST",
                    help="cross-corpus pairs, e.g. ravdess:nemo nemo:ravdess (default pairs when given empty)")
    ap.add_argument("--ensemble-weights", type=float, nargs="*", default=[0.5])
    ap.add_argument("--nemo-cnn-config", default="cnn_bilstm_tel",
                    help="CNN-BiLSTM configuration for nEMO (its audio is 8 kHz: the 8 kHz configuration by default)")
    ap.add_argument("--epochs", type=int, default=None, help="override the CNN-BiLSTM's epochs")
    ap.add_argument("--patience", type=int, default=None, help="override the CNN-BiLSTM's early-stopping patience")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "neural")
    ap.add_argument("--throughput", action="store_true", help="only time training steps of the network and exit")
    ap.add_argument("--device", default="cpu", help="for --throughput: cpu or cuda")
    args = ap.parse_args(argv)
    if args.throughput:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
        print(json.dumps(throughput(args.cnn_config, device=args.device)))
        return 0

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    systems = {}
    if not args.no_cnn:
        systems["cnn_bilstm"] = load_config(args.cnn_config)
    if not args.no_plain:
        systems["svm_plain"] = dict(PLAIN_SVM)
    if args.svm_config and args.svm_config != "none":
        try:
            systems["svm_best"] = load_config(args.svm_config)
        except Exception as e:  # the configuration may not exist yet
            log(f"no best SVM configuration ({e}); skipping that row")
    rows = Rows(args.out)
    sigs = Signals()
    log(f"systems: {list(systems)}; torch threads {torch.get_num_threads()}")
    def cnn_override(cfg):
        if args.epochs:
            cfg["epochs"] = args.epochs
        if args.patience:
            cfg["patience"] = args.patience
        return cfg

    if "cnn_bilstm" in systems:
        cnn_override(systems["cnn_bilstm"])
    for c in args.corpora:
        sy = dict(systems)
        if c == "nemo" and "cnn_bilstm" in sy and args.nemo_cnn_config:
            sy["cnn_bilstm"] = cnn_override(load_config(args.nemo_cnn_config))
        within(c, sy, args, rows, sigs)
        if args.telephone and c != "nemo":  # nEMO is already 8 kHz telephone-rate audio
            tel = dict(systems)
            if "cnn_bilstm" in tel:
                tel["cnn_bilstm"] = cnn_override(load_config("cnn_bilstm_tel"))
            within(c, tel, args, rows, sigs, telephone=True)
    if args.cross is not None:
        pairs = args.cross or ["ravdess:nemo", "nemo:ravdess"]
        for p in pairs:
            a, b = p.split(":")
            cross(a, b, systems, args, rows, sigs)
    rows.write_summary()


if __name__ == "__main__":
    sys.exit(main())
