"""Benchmark of the raw-waveform CNN-LSTM regressor (paper 000) on the proxy continuous corpus.

CCC(V) and CCC(A) on held-out SPEAKERS (a fixed speaker split, seed 1, like paper 000's fixed
split) as mean and sd over seeds (paper 000: 42, 24, 12, 10, 100, 125), for

* ``--grid main``      the main setting (one label rate, one segment length, alpha = beta = 0);
* ``--grid rates``     label rates 500 / 200 / 100 / 40 ms (paper 000 Table II);
* ``--grid segments``  segment lengths (paper 000 Table III; batch = batch_duration // length);
* ``--grid table4``    the alpha/beta grid of paper 000 Table IV (context target = empathy);
* ``--grid optuna``    an Optuna TPE search of alpha and beta on the validation speakers.

Every finished run is appended to ``<out>/runs.jsonl`` (a rerun skips what is done) and the tables
are rewritten to ``<out>/summary.md``. Training throughput (audio seconds per wall second) is
recorded per run. Example (the main setting, 6 seeds, ~11 CPU minutes per model)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/continuous.py --grid main

The proxy has 4 recordings per RAVDESS actor and 12 per nEMO speaker (204 recordings, 158 min);
``--ravdess-recordings 1 --nemo-recordings 2`` gives the first, smaller proxy (42 recordings, 33 min,
~2.7 CPU minutes per model), on which the grids were run.

The proxy corpus is built on first use into ``--proxy`` (default ``$CALLEMO_CACHE/continuous_proxy_r4n12``,
``$CALLEMO_CACHE/continuous_proxy`` for the smaller one; outside the project: it holds audio derived
from the research-only corpora).
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
SEEDS = [42, 24, 12, 10, 100, 125]
TABLE4 = [(0, 0), (0, 1), (1, 0), (0.1, 0), (0.01, 0), (0.001, 0), (0, 0.1), (0, 0.01), (0, 0.001)]
RATES = [0.5, 0.2, 0.1, 0.04]


def default_proxy_dir() -> Path:
    cache = Path(os.environ.get("CALLEMO_CACHE", Path.home() / ".cache" / "callemo"))
    return cache / "continuous_proxy"


def get_proxy(directory: Path, data_root: Path, seed: int = 0, ravdess: int = 1, nemo: int = 2):
    from callemo.simulate.continuous_proxy import build_proxy, load_proxy

    if (directory / "recordings.csv").exists():
        return load_proxy(directory)
    import pandas as pd

    from callemo.corpora import build_manifest

    m = pd.concat([build_manifest("ravdess", data_root / "ravdess"), build_manifest("nemo", data_root / "nemo")],
                  ignore_index=True)
    build_proxy(m, directory, recordings_per_speaker={"ravdess": ravdess, "nemo": nemo}, duration=(30.0, 60.0),
                seed=seed)
    return load_proxy(directory)


def speaker_split(rec, seed: int = 1, test: float = 0.25, dev: float = 0.12):
    """Held-out speakers: per corpus, ``test`` of the speakers to test, ``dev`` to validation."""
    rng = np.random.default_rng(seed)
    parts = {"train": [], "dev": [], "test": []}
    for corpus in sorted(rec["corpus"].unique()):
        spk = sorted(rec.loc[rec["corpus"] == corpus, "speaker"].unique())
        spk = [spk[i] for i in rng.permutation(len(spk))]
        n_test = max(1, int(round(len(spk) * test)))
        n_dev = max(1, int(round(len(spk) * dev)))
        parts["test"] += spk[:n_test]
        parts["dev"] += spk[n_test:n_test + n_dev]
        parts["train"] += spk[n_test + n_dev:]
    return {k: rec[rec["speaker"].isin(v)]["file"].tolist() for k, v in parts.items()}


class Data:
    """Signals, gold traces per label rate and context of the proxy corpus."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.rec = proxy.recordings.set_index("file")
        self.gold2 = proxy.gold(2.0)
        self._traces: dict[float, dict[str, np.ndarray]] = {}

    def signals(self, files):
        return [self.proxy.signal(f) for f in files]

    def traces(self, files, hop):
        from callemo.labels.continuous import traces_from_gold

        cache = self._traces.setdefault(hop, {})
        todo = [f for f in files if f not in cache]
        if todo:
            durs = [len(self.proxy.signal(f)) / self.proxy.sample_rate for f in todo]
            for f, t in zip(todo, traces_from_gold(self.gold2, todo, hop, durs)):
                cache[f] = t
        return [cache[f] for f in files]

    def context(self, files):
        return [(float(self.rec.loc[f, "empathy"]) - 5.0) / 5.0 for f in files]

    def gender(self, files):
        return [self.rec.loc[f, "gender"] for f in files]

    def part(self, files, hop):
        return {"signals": self.signals(files), "traces": self.traces(files, hop),
                "context": self.context(files), "gender": self.gender(files)}


def run_one(data: Data, split, cfg: dict, log=None) -> dict:
    from callemo.evaluate.continuous import score_curves
    from callemo.models.raw_cnn_lstm import RawCNNLSTMModel
    from callemo.train.continuous import fit_continuous

    hop = float(cfg["label_hop"])
    tr = data.part(split["train"], hop)
    dv = data.part(split["dev"], hop)
    model = RawCNNLSTMModel(cfg)
    t0 = time.time()
    fit_continuous(model, tr["signals"], tr["traces"], context=tr["context"], gender=tr["gender"], valid=dv, log=log)
    te = data.part(split["test"], hop)
    pred = model.predict_curves(te["signals"])
    scores = score_curves(pred, te["traces"])
    # also at 2 Hz (the annotation rate), comparable across label rates
    if abs(hop - 0.5) > 1e-9:
        pred2 = model.predict_curves(te["signals"], label_hop=0.5)
        s2 = score_curves(pred2, data.traces(split["test"], 0.5))
        scores.update({f"{k}_2hz": v for k, v in s2.items() if not k.endswith("recording")})
    h = model.history
    return {"scores": scores, "best_epoch": h.get("best_epoch"), "epochs_run": h.get("epochs_run"),
            "val_score": h.get("val_score"), "train_loss": h.get("train_loss"),
            "audio_seconds_per_second": h.get("audio_seconds_per_second"),
            "audio_seconds_per_cpu_second": h.get("audio_seconds_per_cpu_second"),
            "train_cpu_seconds": h.get("train_cpu_seconds"),
            "train_audio_seconds": h.get("train_audio_seconds"), "wall_seconds": round(time.time() - t0, 1),
            "parameters": h.get("parameters")}


def base_config(args) -> dict:
    return {"type": "raw_cnn_lstm", "sample_rate": 8000, "label_hop": args.label_hop,
            "segment_length": args.segment_length, "batch_duration": args.batch_duration, "lr": args.lr,
            "epochs": args.epochs, "patience": args.patience, "alpha": 0.0, "beta": 0.0, "threads": 1,
            "feature_norm": args.feature_norm, "precision": args.precision, "burn_in": args.burn_in,
            "ema": args.ema}


def settings(args):
    b = base_config(args)
    if args.grid == "main":
        yield "main", dict(b)
    elif args.grid == "rates":
        for hop in args.label_hops or RATES:
            yield f"rate_{int(round(hop * 1000))}ms", dict(b, label_hop=hop)
    elif args.grid == "segments":
        for L in args.segment_lengths or [10.0, 20.0, 30.0, 64.0]:
            yield f"segment_{L:g}s", dict(b, segment_length=L)
    elif args.grid == "table4":
        for a, be in TABLE4:
            yield f"alpha{a:g}_beta{be:g}", dict(b, alpha=a, beta=be)
    else:
        raise SystemExit(f"unknown grid {args.grid}")


def _runs(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines() if x.strip()]


def compare_to_reference(out: Path, reference: Path, ref_setting: str = "main") -> str:
    """Each setting of ``out`` against the runs of ``ref_setting`` in ``reference`` with the same seeds:
    mean difference of CCC(V) and CCC(A) and a Wilcoxon signed-rank test paired by seed."""
    from callemo.evaluate.significance import wilcoxon

    ref = {r["seed"]: r for r in _runs(reference) if r["setting"] == ref_setting}
    by: dict[str, dict[int, dict]] = {}
    for r in _runs(out):
        by.setdefault(r["setting"], {})[r["seed"]] = r
    lines = ["| setting | seeds | dCCC valence (wins/losses, p) | dCCC arousal (wins/losses, p) |", "|---|---|---|---|"]
    for setting, rs in by.items():
        seeds = sorted(set(rs) & set(ref))
        if len(seeds) < 2:
            continue
        cells = []
        for key in ("ccc_valence", "ccc_arousal"):
            w = wilcoxon([rs[s]["scores"][key] for s in seeds], [ref[s]["scores"][key] for s in seeds])
            cells.append(f"{w['mean_diff']:+.3f} ({w['wins']}/{w['losses']}, p = {w['p_value']:.2f})")
        lines.append(f"| {setting} | {len(seeds)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + (f"\n\nagainst `{ref_setting}` in {reference} (same seeds); Wilcoxon signed-rank, "
                               "two-sided, paired by seed (6 seeds: smallest p = 0.031).\n")


def summarise(out: Path) -> str:
    rows = _runs(out)
    by: dict[tuple, list] = {}
    for r in rows:
        by.setdefault((r["grid"], r["setting"]), []).append(r)
    lines = ["| grid | setting | seeds | CCC valence | CCC arousal | CCC V per rec. | CCC A per rec. | "
             "best epoch | audio s / s | wall s / run |", "|---|---|---|---|---|---|---|---|---|---|"]

    def ms(rs: list, key: str) -> str:
        v = np.array([r["scores"][key] for r in rs], float)
        return f"{np.mean(v):.3f} ({np.std(v, ddof=1) if len(v) > 1 else 0:.3f})"

    for (g, s), rs in by.items():
        thr = np.mean([r["audio_seconds_per_second"] or np.nan for r in rs])
        cpu = [r.get("audio_seconds_per_cpu_second") for r in rs if r.get("audio_seconds_per_cpu_second")]
        thr_s = f"{thr:.1f}" + (f" ({np.mean(cpu):.0f} per CPU s)" if cpu else "")
        lines.append(f"| {g} | {s} | {len(rs)} | {ms(rs, 'ccc_valence')} | {ms(rs, 'ccc_arousal')} | "
                     f"{ms(rs, 'ccc_valence_per_recording')} | {ms(rs, 'ccc_arousal_per_recording')} | "
                     f"{np.mean([r['best_epoch'] + 1 for r in rs]):.1f} | {thr_s} | "
                     f"{np.mean([r['wall_seconds'] for r in rs]):.0f} |")
    text = "\n".join(lines) + ("\n\nmean (sd over seeds, ddof=1); CCC pooled over all test label steps; "
                                "audio s / s = training throughput in wall-clock seconds on the shared CPU "
                                "(per CPU second of the process in brackets).\n")
    (out / "summary.md").write_text(text)
    return text


def optuna_search(data: Data, split, args, out: Path):
    """TPE search of alpha and beta (paper 000: seed 12, 10 trials): fit on the training speakers,
    score on the validation speakers (grouped split), then the best weights on the test speakers."""
    from callemo.train.search import search_alpha_beta

    b = dict(base_config(args), seed=12)
    hop = b["label_hop"]
    best, value, trials = search_alpha_beta(b, data.part(split["train"], hop), data.part(split["dev"], hop),
                                            n_trials=args.trials, seed=12, log=lambda m: print(m, flush=True))
    (out / "optuna.json").write_text(json.dumps({"best": best, "value": value, "trials": trials}, indent=1))
    print("best", best, value, flush=True)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", default="main", choices=["main", "rates", "segments", "table4", "optuna"])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "continuous")
    ap.add_argument("--proxy", type=Path, default=None)
    ap.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    ap.add_argument("--label-hop", type=float, default=0.5)
    ap.add_argument("--label-hops", type=float, nargs="+", default=None)
    ap.add_argument("--segment-length", type=float, default=64.0,
                    help="s; 64 = every proxy recording (30-62 s) is one segment")
    ap.add_argument("--segment-lengths", type=float, nargs="+", default=None)
    ap.add_argument("--batch-duration", type=float, default=192.0, help="s of audio per batch (3 x 64 s)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--feature-norm", default="instance", choices=["none", "instance", "instance_level"])
    ap.add_argument("--ravdess-recordings", type=int, default=4, help="proxy recordings per RAVDESS actor "
                    "(the benchmark's proxy: 4; the first, smaller proxy: 1)")
    ap.add_argument("--nemo-recordings", type=int, default=12, help="proxy recordings per nEMO speaker "
                    "(the benchmark's proxy: 12; the first, smaller proxy: 2)")
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    ap.add_argument("--burn-in", type=float, default=4.0)
    ap.add_argument("--patience", type=int, default=None)
    ap.add_argument("--ema", type=float, default=None,
                    help="keep an exponential moving average of the weights with this decay (e.g. 0.98)")
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--settings", nargs="+", default=None, help="only these setting names of the grid")
    ap.add_argument("--reference", type=Path, default=None,
                    help="only compare: each setting in --out against the 'main' runs in this folder (same seeds)")
    args = ap.parse_args(argv)
    if args.reference is not None:
        text = compare_to_reference(args.out, args.reference)
        (args.out / "versus_reference.md").write_text(text)
        print(text)
        return

    import torch

    torch.set_num_threads(1)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    rps = (args.ravdess_recordings, args.nemo_recordings)
    default_dir = default_proxy_dir()
    if rps != (1, 2):  # a bigger proxy lives beside the default one
        default_dir = default_dir.with_name(f"{default_dir.name}_r{rps[0]}n{rps[1]}")
    proxy = get_proxy(args.proxy or default_dir, args.data_root, ravdess=rps[0], nemo=rps[1])
    data = Data(proxy)
    split = speaker_split(proxy.recordings, seed=1)
    dur = proxy.recordings.set_index("file")["duration"]
    print({k: (len(v), round(float(dur[v].sum()), 1)) for k, v in split.items()}, flush=True)
    if args.grid == "optuna":
        optuna_search(data, split, args, out)
        return
    done = set()
    if (out / "runs.jsonl").exists():
        for x in (out / "runs.jsonl").read_text().splitlines():
            if x.strip():
                r = json.loads(x)
                done.add((r["grid"], r["setting"], r["seed"]))
    for name, cfg in settings(args):
        if args.settings and name not in args.settings:
            continue
        for seed in args.seeds:
            if (args.grid, name, seed) in done:
                continue
            cfg_s = dict(cfg, seed=seed)
            t = time.time()
            tag = f"  [{name} seed {seed}]"
            res = run_one(data, split, cfg_s, log=lambda m, tag=tag: print(f"{tag} {m}", flush=True))
            rec = {"grid": args.grid, "setting": name, "seed": seed, "config": cfg_s, **res}
            with open(out / "runs.jsonl", "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            s = res["scores"]
            print(f"{name} seed {seed}: CCC V {s['ccc_valence']:.3f} A {s['ccc_arousal']:.3f} "
                  f"({time.time() - t:.0f}s, {res['audio_seconds_per_second']} audio-s/s)", flush=True)
            print(summarise(out), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
