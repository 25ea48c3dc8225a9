"""``callemo compare``: two configurations, several seeds, the same folds, a Wilcoxon signed-rank test.

For each seed the speaker-independent folds are drawn once (``evaluate.protocol.crossval`` with that
seed) and both configurations are trained and tested on exactly those folds, with the seed also set
in each configuration (so neural models change their initialisation and sampling too). The per-seed
UAs are then compared with :func:`callemo.evaluate.significance.wilcoxon` (paired by seed).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from .app import app, console, friendly_errors, out


def compare_configs(df, config_a: dict[str, Any], config_b: dict[str, Any], *, seeds: list[int], group: str = "speaker",
                    k: int = 5, setting: Any = None, telephone: bool = False, sr: int | None = None, jobs: int = 1,
                    n_boot: int = 200, device: str | None = None, progress: bool = False, log=None) -> dict[str, Any]:
    """Cross-validate two configurations over ``seeds`` on the same folds; Wilcoxon on per-seed UA."""
    from ..evaluate.protocol import apply_label_setting, crossval
    from ..evaluate.significance import wilcoxon
    from ..models.base import build_model
    from ..train.manifest import load_signals

    d, _ = apply_label_setting(df, None, setting, "emotion")
    signals_by_rate: dict[int, list] = {}
    runs: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for seed in seeds:
        for key, cfg in (("a", config_a), ("b", config_b)):
            c = {kk: v for kk, v in cfg.items() if kk != "name"}
            c["seed"] = int(seed)
            if device is not None:
                c["device"] = device
            rate = int(sr) if sr else int(getattr(build_model(c), "sample_rate", 16000))
            if rate not in signals_by_rate:
                signals_by_rate[rate] = load_signals(d, rate, telephone=telephone, jobs=jobs, progress=progress)
            t0 = time.perf_counter()
            r = crossval(d, c, group=group, k=k, seed=int(seed), sr=rate, telephone=telephone, progress=progress,
                         signals=signals_by_rate[rate], n_boot=n_boot)
            runs[key].append({"seed": int(seed), "ua": r["ua"], "wa": r["wa"], "macro_f1": r["macro_f1"],
                              "ua_ci": r["ua_ci"], "fold_ua": [f["ua"] for f in r["folds"]],
                              "seconds": round(time.perf_counter() - t0, 2)})
            if log:
                log(f"seed {seed} {cfg.get('name', key)}: UA {r['ua']:.3f} WA {r['wa']:.3f} "
                    f"({runs[key][-1]['seconds']:.0f} s)")
    ua_a = [r["ua"] for r in runs["a"]]
    ua_b = [r["ua"] for r in runs["b"]]
    import numpy as np

    test = wilcoxon(ua_a, ua_b)
    return {
        "a": {"name": config_a.get("name", "a"), "config": config_a, "runs": runs["a"],
              "ua_mean": float(np.mean(ua_a)), "ua_sd": float(np.std(ua_a, ddof=1)) if len(ua_a) > 1 else 0.0},
        "b": {"name": config_b.get("name", "b"), "config": config_b, "runs": runs["b"],
              "ua_mean": float(np.mean(ua_b)), "ua_sd": float(np.std(ua_b, ddof=1)) if len(ua_b) > 1 else 0.0},
        "seeds": [int(s) for s in seeds],
        "wilcoxon": test,
        "protocol": {"kind": "compare", "group": group, "k": int(k), "label_setting": setting,
                     "telephone": bool(telephone), "n": len(d), "paired_by": "seed (same folds per seed)",
                     "metric": "UA of the pooled test predictions"},
    }


@app.command()
@friendly_errors
def compare(
    manifest: Path = typer.Argument(..., help="manifest CSV (path, speaker, emotion, ...)"),
    config: list[str] = typer.Option(..., "--config", "-c", help="configuration name or YAML file; give exactly two"),
    seeds: int = typer.Option(5, "--seeds", help="number of seeds (0..N-1), each with its own folds"),
    first_seed: int = typer.Option(0, "--first-seed", help="first seed"),
    folds: int = typer.Option(5, "--folds", "-k", help="number of folds"),
    group: str = typer.Option("speaker", "--group", help="column whose values never cross folds"),
    setting: str | None = typer.Option(None, "--setting", help="label setting: full, 4class, polarity, binary"),
    telephone: bool = typer.Option(False, "--telephone", help="degrade audio to telephone quality first"),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (neural models)"),
    jobs: int = typer.Option(1, "--jobs", "-j", help="parallel audio loading"),
    n_boot: int = typer.Option(200, "--n-boot", help="bootstrap replicates for the UA CIs"),
    json_out: Path | None = typer.Option(None, "--json", help="write the full result as JSON"),
):
    """Compare two configurations over several seeds on the same folds (Wilcoxon signed-rank test)."""
    from ..errors import CallemoError
    from ..train.config import load_config
    from ..train.manifest import read_manifest
    from ..utils import plain

    if len(config) != 2:
        raise CallemoError(f"compare needs exactly two --config options (got {len(config)})")
    if seeds < 1:
        raise CallemoError("--seeds must be at least 1")
    a, b = load_config(config[0]), load_config(config[1])
    if a.get("name") == b.get("name"):
        a["name"], b["name"] = f"{a['name']}#1", f"{b['name']}#2"
    df = read_manifest(manifest)
    if setting is None:  # the configurations' own label setting, when they agree
        sa, sb = a.get("label_setting"), b.get("label_setting")
        setting = sa if sa == sb else None
        if sa != sb:
            console.print(f"[yellow]note:[/] the configurations name different label settings ({sa} vs {sb}); "
                          "using the manifest's labels as they are (give --setting to choose)")
    res = compare_configs(df, a, b, seeds=list(range(first_seed, first_seed + seeds)), group=group, k=folds,
                          setting=setting, telephone=telephone, jobs=jobs, n_boot=n_boot, device=device,
                          log=lambda m: console.print(m, highlight=False))
    from rich.table import Table

    t = Table(title=f"{a['name']} vs {b['name']}: UA per seed ({folds}-fold by {group})")
    for col in ("seed", a["name"], b["name"], "diff"):
        t.add_column(col, justify="right")
    for ra, rb in zip(res["a"]["runs"], res["b"]["runs"]):
        t.add_row(str(ra["seed"]), f"{ra['ua']:.3f}", f"{rb['ua']:.3f}", f"{ra['ua'] - rb['ua']:+.3f}")
    t.add_row("mean", f"{res['a']['ua_mean']:.3f}", f"{res['b']['ua_mean']:.3f}",
              f"{res['a']['ua_mean'] - res['b']['ua_mean']:+.3f}")
    out.print(t)
    w = res["wilcoxon"]
    line = (f"Wilcoxon signed-rank: n={w['n']}, wins/losses/ties {w['wins']}/{w['losses']}/{w['ties']}, "
            f"statistic={w['statistic']}, p={w['p_value']:.4g}")
    out.print(line + (f" ({w['note']})" if w.get("note") else ""), highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(plain(res), indent=2) + "\n")
        out.print(f"wrote {json_out}", highlight=False)
