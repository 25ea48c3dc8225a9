"""Post-processing of in-call emotion predictions, measured offline on the loco call benchmark.

Issue 9 item 4 asks whether cheap post-processing of the per-segment probabilities helps inside a
call. This script replays the kept raw outputs of ``benchmarks/calls.py --protocol loco``
(``runs/loco_calls/results/full_loco_<fold>_n<calls>_s<seed>.json``: every analysed segment's
role and ``p_<label>``) through causal post-processors applied per call, per analysis (mono /
stereo) and per predicted role (each role is one speaker in these two-speaker calls), in time order:

* ``ema``: exponential smoothing of the probabilities over the speaker's consecutive segments,
  ``q_t = a q_{t-1} + (1 - a) p_t``;
* ``hmm``: the forward filter of an HMM over the speaker's segments whose states are the classes,
  with a sticky transition (stay ``s``, the rest spread evenly) and the model's probabilities as
  emission scores (causal: the posterior of a segment uses only it and earlier ones);
* ``prior``: a neutral prior shift, ``p_neutral * w`` renormalised;
* ``recenter``: the speaker's running mean log-probability (over the segments so far) times
  ``k`` subtracted from each segment's log-probabilities (per-speaker re-centering);
* ``em prior``: the speaker's class prior estimated by EM from its segments so far (Saerens et
  al. 2002; MAP, pulled toward the uniform prior of a class-balanced model by ``n0`` segments),
  each segment's probabilities re-weighted by it.

Labels are re-derived from the processed probabilities (``unknown`` where the top probability is
below the model's ``unknown_below``, 0.4) and scored exactly as the benchmark scores them
(:func:`calls.match_emotions`, :func:`calls._emotion_figures`; the confidence is the top
processed probability). Settings are chosen honestly: for each held-out fold, the setting with the
best objective ``J`` on the OTHER two folds (mean over mono and stereo of client-turn UA minus the
share of neutral agent turns called angry) is reported on the held-out fold.

    python benchmarks/call_smoothing.py            # seconds; needs the loco raw outputs
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import calls as B  # the benchmark's own scoring

Post = Callable[[np.ndarray], np.ndarray]


def ema(a: float) -> Post:
    def f(p: np.ndarray) -> np.ndarray:
        q = p.copy()
        for t in range(1, len(p)):
            q[t] = a * q[t - 1] + (1 - a) * p[t]
        return q
    return f


def hmm(stay: float) -> Post:
    def f(p: np.ndarray) -> np.ndarray:
        k = p.shape[1]
        trans = np.full((k, k), (1 - stay) / (k - 1))
        np.fill_diagonal(trans, stay)
        q, a = np.empty_like(p), np.full(k, 1 / k)
        for t in range(len(p)):
            a = (a @ trans) * np.clip(p[t], 1e-9, None)
            a = a / a.sum()
            q[t] = a
        return q
    return f


def prior(w: float, neutral: int) -> Post:
    def f(p: np.ndarray) -> np.ndarray:
        q = p.copy()
        q[:, neutral] *= w
        return q / q.sum(axis=1, keepdims=True)
    return f


def recenter(k: float) -> Post:
    def f(p: np.ndarray) -> np.ndarray:
        lp = np.log(np.clip(p, 1e-9, None))
        z = lp - k * np.cumsum(lp, axis=0) / np.arange(1, len(p) + 1)[:, None]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return f


def em_prior(strength: float, iters: int = 20) -> Post:
    """The speaker's class prior estimated by EM from its segments so far (Saerens et al. 2002,
    MAP with a Dirichlet pull of ``strength`` segments toward the uniform training prior of a
    class-balanced model), and each segment's probabilities re-weighted by it."""
    def f(p: np.ndarray) -> np.ndarray:
        k = p.shape[1]
        pc = np.clip(p, 1e-9, None)
        q = np.empty_like(p)
        for t in range(len(p)):
            seen, w = pc[: t + 1], np.full(k, 1 / k)
            for _ in range(iters):
                r = seen * w
                r /= r.sum(axis=1, keepdims=True)
                w = (r.sum(axis=0) + strength / k) / (len(seen) + strength)
            z = pc[t] * w
            q[t] = z / z.sum()
        return q
    return f


def candidates(labels: list[str]) -> dict[str, Post | None]:
    out: dict[str, Post | None] = {"none": None}
    out.update({f"ema a={a}": ema(a) for a in (0.2, 0.3, 0.4, 0.5, 0.6)})
    out.update({f"hmm stay={s}": hmm(s) for s in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)})
    out.update({f"prior neutral x{w}": prior(w, labels.index("neutral")) for w in (1.25, 1.5, 2.0, 2.5, 3.0)})
    out.update({f"recenter k={k}": recenter(k) for k in (0.3, 0.5, 1.0)})
    out.update({f"em prior n0={n}": em_prior(n) for n in (2, 4, 8, 16)})
    return out


def load(runs: Path, n_calls: int, seed: int) -> list[dict[str, Any]]:
    """Every analysis of the three folds: its segments (time order), truth and call group."""
    items = []
    for fold in B.CORPORA:
        raw = runs / "results" / f"full_loco_{fold}_n{n_calls}_s{seed}.json"
        if not raw.exists():
            raise SystemExit(f"{raw}: run `python benchmarks/calls.py --protocol loco` first")
        index = B.fold_calls(fold, n_calls, seed, runs=runs).set_index("call")
        for res in json.loads(raw.read_text()):
            if "segments" not in res:
                continue
            meta = index.loc[res["call"]]
            segs = pd.DataFrame(res["segments"]).sort_values(["start", "end"]).reset_index(drop=True)
            items.append({"fold": fold, "kind": res["kind"], "same": bool(meta.same_gender), "segs": segs,
                          "truth": pd.read_csv(meta.csv)})
    return items


def process(segs: pd.DataFrame, post: Post | None, labels: list[str], unknown_below: float) -> pd.DataFrame:
    """The segments with processed probabilities, labels and confidence (per role, in time order)."""
    pcols = [f"p_{lab}" for lab in labels]
    s = segs.copy()
    p = s[pcols].to_numpy(float, copy=True)
    judged = np.isfinite(p).all(axis=1)
    if post is not None:
        for role in s["role"].astype(str).unique():
            rows = np.flatnonzero(judged & (s["role"].astype(str) == role).to_numpy())
            if len(rows):
                p[rows] = post(p[rows])
    s[pcols] = p
    s["confidence"] = np.where(judged, np.nan_to_num(p, nan=0.0).max(axis=1), 0.0)
    lab = np.asarray(labels, dtype=object)[np.nan_to_num(p, nan=0.0).argmax(axis=1)]
    s["emotion"] = np.where(judged & (s["confidence"] >= unknown_below), lab, "unknown")
    return s


def figures(items: list[dict[str, Any]], post: Post | None, labels: list[str],
            unknown_below: float) -> dict[tuple[str, str, str], dict[str, Any]]:
    ems: dict[tuple[str, str, str], list[pd.DataFrame]] = {}
    for it in items:
        em = B.match_emotions(it["truth"], process(it["segs"], post, labels, unknown_below), labels)
        for g in ("all", "same" if it["same"] else "mixed"):
            ems.setdefault((it["fold"], it["kind"], g), []).append(em)
    return {k: B._emotion_figures(pd.concat(v, ignore_index=True), labels) for k, v in ems.items()}


def objective(f: dict[tuple[str, str, str], dict[str, Any]], folds: list[str]) -> float:
    return float(np.mean([f[(fold, kind, "all")]["client_ua"] - f[(fold, kind, "all")]["agent_neutral_as_angry"]
                          for fold in folds for kind in B.KINDS]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default=str(B.RUNS))
    ap.add_argument("--unknown-below", type=float, default=0.4)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    items = load(Path(a.runs), a.calls, a.seed)
    labels = [c[2:] for c in items[0]["segs"].columns if str(c).startswith("p_")]
    res = {name: figures(items, post, labels, a.unknown_below) for name, post in candidates(labels).items()}
    keys = [("client_ua", "UA", "{:.3f}"), ("agent_neutral_as_angry", "N>A", "{:.1%}"), ("ece", "ECE", "{:.3f}"),
            ("auroc", "AUROC", "{:.3f}")]

    def cells(f: dict[str, Any]) -> str:
        return " ".join(f"{h} {fmt.format(f[k])}" for k, h, fmt in keys)

    print("fixed settings, mean of the three folds (J = client UA - neutral agent -> angry, mono and stereo):")
    for name, f in res.items():
        print(f"  {name:20s} J {objective(f, list(B.CORPORA)):.3f} | " + " | ".join(
            f"{kind} " + cells({k: np.mean([f[(fold, kind, 'all')][k] for fold in B.CORPORA]) for k, _, _ in keys})
            for kind in B.KINDS))
    print("\nchosen on the two other folds, reported on the held-out fold (none = today's output):")
    out: dict[str, Any] = {"folds": {}}
    for fold in B.CORPORA:
        others = [f for f in B.CORPORA if f != fold]
        best = max(res, key=lambda n: objective(res[n], others))
        out["folds"][fold] = {"chosen": best, "held_out": {}}
        for kind in B.KINDS:
            for g in ("all", "same", "mixed"):
                if (fold, kind, g) not in res[best]:
                    continue
                before, after = res["none"][(fold, kind, g)], res[best][(fold, kind, g)]
                out["folds"][fold]["held_out"][f"{kind} {g}"] = {"before": before, "after": after}
                print(f"  {fold:8s} {kind:6s} {g:5s} chose {best:20s} none: {cells(before)}  ->  {cells(after)}")
    for kind in B.KINDS:
        held = [out["folds"][f]["held_out"][f"{kind} all"] for f in B.CORPORA]
        b = {k: np.mean([h["before"][k] for h in held]) for k, _, _ in keys}
        c = {k: np.mean([h["after"][k] for h in held]) for k, _, _ in keys}
        print(f"  MEAN     {kind:6s} all   {'':26s} none: {cells(b)}  ->  {cells(c)}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1, default=float))
    return out


if __name__ == "__main__":
    main()
