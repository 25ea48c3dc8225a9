"""Commands: predict, train, evaluate, crossval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .app import app, console, friendly_errors, out

NOISE_HELP = "with --telephone: add noise at an SNR drawn in 10-30 dB to 70% of the items (default: codec only)"


def _load(df, setting, sr: int, telephone: bool, noise: bool, jobs: int):
    """Apply the label setting, then load the rows' audio (telephone: codec only unless ``noise``)."""
    from ..train.manifest import load_signals

    if setting:
        from ..labels.schemes import apply_setting

        df = apply_setting(df, setting)
    df = df.reset_index(drop=True)
    kw: dict[str, Any] = {} if (telephone and noise) else {"snr_range": None}
    return df, load_signals(df, sr, telephone=telephone, jobs=jobs, progress=True, **kw)


def _setting_of(model) -> object | None:
    td = (getattr(model, "card", None) or {}).get("training_data") or {}
    return td.get("label_setting")


def _config_and_data(config: str, manifest: Path, setting, telephone: bool, noise: bool, jobs: int):
    """The configuration (telephone variant when asked), the manifest under its label setting and
    its signals at the configuration's sample rate."""
    from ..train.config import load_config, telephone_config
    from ..train.manifest import read_manifest

    cfg = load_config(config)
    if telephone and int(cfg.get("sample_rate", 16000)) != 8000:
        cfg = telephone_config(cfg)
    if jobs != 1:
        cfg["jobs"] = jobs
    df = read_manifest(manifest)
    setting = setting or cfg.get("label_setting")
    df, signals = _load(df, setting, int(cfg.get("sample_rate", 16000)), telephone, noise, jobs)
    return cfg, df, signals, setting


#: how many warnings of one kind the commands print before summarising the rest
MAX_WARNINGS = 20


def _report_warnings(caught, already: set[str] | frozenset[str] = frozenset()) -> None:
    """Print callemo's warnings (audio, evaluation) as one line each, capped at :data:`MAX_WARNINGS`;
    other libraries' warnings go to Python's usual warning output."""
    import warnings

    shown = 0
    for w in caught:
        msg = str(w.message)
        if msg in already:
            continue
        if not (w.category.__module__ or "").startswith("callemo") and not w.filename.startswith(_SRC):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        shown += 1
        if shown <= MAX_WARNINGS:
            console.print(f"[yellow]warning:[/] {msg}", highlight=False)
    if shown > MAX_WARNINGS:
        console.print(f"[yellow]warning:[/] ... and {shown - MAX_WARNINGS} more", highlight=False)


_SRC = str(Path(__file__).resolve().parents[1])


@app.command()
@friendly_errors
def predict(
    files: list[Path] = typer.Argument(..., help="audio files (wav, flac, mp3, ogg, ...)"),
    model: Path | None = typer.Option(None, "--model", "-m", help="model directory (default: the shipped model)"),
    json_out: Path | None = typer.Option(None, "--json", help="write the predictions as JSON here"),
    same_speaker: bool = typer.Option(False, "--same-speaker",
                                      help="the files are one speaker: normalise them together"),
):
    """Emotion and class probabilities of each file; `unknown` when it holds too little speech."""
    import json
    import warnings

    import numpy as np
    from rich.table import Table

    from ..io import load_audio, resample, telephone
    from ..models.base import load_model
    from ..prep.vad import speech_regions

    m = load_model(model)
    # a model trained on telephone audio sees wideband files through the same channel
    tel = bool(((m.card or {}).get("training_data") or {}).get("telephone")) and m.sample_rate == 8000
    signals, speech = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for f in files:
            x, sr = load_audio(f)
            speech.append(sum(e - s for s, e in speech_regions(x, sr)))
            if tel and sr > 8000:
                x, _ = telephone(x, sr)
            elif sr != m.sample_rate:
                x = resample(x, sr, m.sample_rate)
            signals.append(x)
    _report_warnings(caught)
    speakers = ["all"] * len(files) if same_speaker else [str(f) for f in files]
    labels = list(m.labels)
    # files with less speech than the model judges are not sent to it (no guess on silence)
    judged = [i for i, sp in enumerate(speech) if sp >= m.min_duration]
    proba = np.full((len(files), len(labels)), np.nan)
    if judged:
        proba[judged] = np.asarray(m.predict_proba([signals[i] for i in judged], [speakers[i] for i in judged]))
    t = Table(title=f"emotion ({'default model' if model is None else model})")
    t.add_column("file")
    t.add_column("emotion")
    t.add_column("confidence", justify="right")
    t.add_column("speech (s)", justify="right")
    for lab in labels:
        t.add_column(f"p({lab})", justify="right")
    rows = []
    for f, x, p, sp in zip(files, signals, proba, speech):
        dur = len(x) / m.sample_rate
        row: dict[str, object] = {"file": str(f), "duration": round(dur, 3), "speech": round(sp, 3)}
        if np.isnan(p).any():
            what = ("no speech detected" if sp == 0
                    else f"{sp:.2f} s of speech, less than the model's min_duration ({m.min_duration} s)")
            rows.append({**row, "emotion": "unknown", "confidence": None, "probabilities": None, "note": what})
            t.add_row(f"{f.name} [yellow]({what})[/]", "unknown", "-", f"{sp:.1f}", *["-" for _ in labels])
            continue
        k = int(np.argmax(p))
        rows.append({**row, "emotion": labels[k], "confidence": float(p[k]),
                     "probabilities": {lab: float(v) for lab, v in zip(labels, p)}})
        t.add_row(str(f.name), labels[k], f"{p[k]:.2f}", f"{sp:.1f}", *[f"{v:.2f}" for v in p])
    out.print(t)
    if json_out:
        from ..io.files import atomic_write_text

        atomic_write_text(json_out, json.dumps({"model": str(model) if model else "default", "labels": labels,
                                                "files": rows}, indent=2))
        console.print(f"wrote {json_out}")


@app.command()
@friendly_errors
def train(
    manifest: Path = typer.Argument(..., help="manifest CSV (path, speaker, emotion[, start, end, ...])"),
    output: Path = typer.Option(..., "--output", "-o", help="model directory to write"),
    config: str = typer.Option("default", "--config", "-c", help="configuration name (callemo/configs) or YAML path"),
    setting: str | None = typer.Option(None, "--setting", help="label setting: full, 4class, polarity, binary"),
    telephone: bool = typer.Option(False, "--telephone", help="train on 8 kHz telephone-degraded audio"),
    noise: bool = typer.Option(False, "--noise", help=NOISE_HELP),
    crossval_folds: int = typer.Option(0, "--crossval",
                                       help="also run K-fold speaker-grouped CV and store it in the model card"),
    jobs: int = typer.Option(1, "--jobs", "-j", help="parallel jobs for loading and features"),
):
    """Train a model on a manifest and write a model directory (weights + model.yaml)."""
    from ..train.fit import train_from_manifest

    cfg, df, signals, setting = _config_and_data(config, manifest, setting, telephone, noise, jobs)
    metrics = {}
    if crossval_folds:
        from ..evaluate.protocol import crossval as run_cv
        from ..evaluate.report import print_result

        res = run_cv(df, cfg, group="speaker", k=crossval_folds, telephone=telephone, signals=signals, progress=True,
                     setting=setting)
        print_result(res, out, title=f"{crossval_folds}-fold speaker-independent CV")
        keys = ("ua", "wa", "macro_f1", "ua_ci", "wa_ci", "macro_f1_ci", "per_class_recall")
        metrics = {"crossval": {k: res[k] for k in keys},
                   "protocol": {k: v for k, v in res["protocol"].items() if k != "config"}}
    m = train_from_manifest(df, cfg, output, telephone=telephone, setting=setting, signals=signals, progress=True,
                            metrics=metrics)
    m.card["training_data"]["manifest"] = str(manifest.resolve())
    m.save(output)
    out.print(f"trained [bold]{cfg.get('name', cfg['type'])}[/] on {len(df)} items, labels {m.labels}: wrote {output}")


def _write(result, json_out: Path | None, out_dir: Path | None, prefix: str, title: str):
    from ..evaluate.protocol import to_json

    if json_out:
        to_json(result, json_out)
        console.print(f"wrote {json_out}")
    if out_dir:
        from ..evaluate.plots import predictions_csv, write_outputs

        out_dir.mkdir(parents=True, exist_ok=True)
        paths = write_outputs(result, out_dir / prefix, title=title)
        if result.get("proba") is not None:
            paths["predictions"] = predictions_csv(result, out_dir / "predictions.csv")
        to_json(result, out_dir / f"{prefix}.json")
        console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


@app.command()
@friendly_errors
def evaluate(
    manifest: Path = typer.Argument(..., help="manifest CSV with labels"),
    model: Path | None = typer.Option(None, "--model", "-m", help="model directory (default: the shipped model)"),
    json_out: Path | None = typer.Option(None, "--json", help="write ua, wa, macro_f1, CIs, ece, brier... as JSON"),
    out_dir: Path | None = typer.Option(
        None, "--out",
        help="folder for predictions.csv, the confusion matrix CSV + PNG, the reliability diagram and the report"),
    setting: str | None = typer.Option(None, "--setting",
                                          help="label setting (default: the model's training setting)"),
    telephone: bool = typer.Option(False, "--telephone", help="degrade the audio to telephone quality first"),
    noise: bool = typer.Option(False, "--noise", help=NOISE_HELP),
    n_boot: int = typer.Option(1000, "--n-boot", help="bootstrap replicates for the CIs (over speakers)"),
    jobs: int = typer.Option(1, "--jobs", "-j"),
):
    """Score a trained model on a labelled manifest: UA / WA / macro-F1 with 95% CIs over speakers,
    calibration (ECE, Brier), UA per gender and corpus when the manifest has those columns."""
    import warnings

    from ..evaluate.protocol import evaluate_model
    from ..evaluate.report import print_result
    from ..models.base import load_model
    from ..train.manifest import read_manifest

    df = read_manifest(manifest)
    m = load_model(model)
    st = setting or _setting_of(m)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate_model(m, df, telephone=telephone, noise=noise, n_boot=n_boot, jobs=jobs, progress=True,
                                setting=st)
    _report_warnings(caught, already=set(result["protocol"]["notes"]))
    print_result(result, out, title=f"evaluation of {'the default model' if model is None else model}")
    _write(result, json_out, out_dir, "evaluate", "evaluation")


@app.command()
@friendly_errors
def crossval(
    manifest: Path = typer.Argument(..., help="manifest CSV with labels"),
    group: str = typer.Option("speaker", "--group", help="column that must not be split across train/test"),
    folds: int = typer.Option(5, "--folds", "-k"),
    config: str = typer.Option("default", "--config", "-c", help="configuration name or YAML path"),
    setting: str | None = typer.Option(None, "--setting", help="label setting: full, 4class, polarity, binary"),
    telephone: bool = typer.Option(False, "--telephone", help="8 kHz telephone-degraded audio"),
    noise: bool = typer.Option(False, "--noise", help=NOISE_HELP),
    json_out: Path | None = typer.Option(None, "--json", help="write the results as JSON here"),
    out_dir: Path | None = typer.Option(None, "--out", help="folder for the confusion matrix CSV + PNG"),
    seed: int = typer.Option(0, "--seed"),
    n_boot: int = typer.Option(1000, "--n-boot"),
    jobs: int = typer.Option(1, "--jobs", "-j"),
):
    """Grouped (speaker-independent) K-fold cross-validation, with random and majority baselines."""
    from ..evaluate.protocol import crossval as run_cv
    from ..evaluate.report import print_result

    cfg, df, signals, setting = _config_and_data(config, manifest, setting, telephone, noise, jobs)
    result = run_cv(df, cfg, group=group, k=folds, seed=seed, telephone=telephone, jobs=jobs, progress=True,
                    n_boot=n_boot, setting=setting, signals=signals)
    name = cfg.get("name", cfg["type"])
    print_result(result, out, title=f"{result['protocol']['k']}-fold CV grouped by {group} ({name})")
    _write(result, json_out, out_dir, "crossval", f"crossval {cfg.get('name', '')}")
