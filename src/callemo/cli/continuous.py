"""Continuous valence/arousal commands (paper 000's regressor and the proxy corpus).

``callemo simulate-continuous``  build the proxy continuous corpus from categorical corpora;
``callemo continuous-train``     train the raw-waveform CNN-LSTM on a folder of recordings + traces;
``callemo continuous-predict``   write the 2 Hz (or other rate) valence/arousal curves of audio files.

A training folder holds ``recordings.csv`` (``file``, ``path`` relative to the folder or absolute,
optional ``speaker``, ``gender`` and a context column such as ``empathy`` on 0-10) and
``annotations.csv`` (long format ``file,time,annotator,valence,arousal``, [-1, 1] or
[-1000, 1000]); the proxy corpus is such a folder.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, friendly_errors, out


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    from ..errors import CallemoError

    res = {}
    for it in items or []:
        if "=" not in it:
            raise CallemoError(f"{what} {it!r}: expected NAME=VALUE")
        k, v = it.split("=", 1)
        res[k.strip().lower()] = v.strip()
    return res


@app.command("simulate-continuous")
@friendly_errors
def simulate_continuous(
    output: Path = typer.Argument(..., help="folder to write the proxy corpus into"),
    corpus: list[str] = typer.Option(None, "--corpus", help="NAME=FOLDER (ravdess, savee, nemo); repeatable"),
    per_speaker: list[str] = typer.Option(None, "--per-speaker", help="CORPUS=N recordings per speaker (default 1)"),
    min_duration: float = typer.Option(30.0, help="shortest recording (s)"),
    max_duration: float = typer.Option(60.0, help="longest recording (s)"),
    seed: int = typer.Option(0, help="random seed (the corpus is deterministic given it)"),
    no_telephone: bool = typer.Option(False, "--no-telephone",
                                      help="keep the audio clean (no 8 kHz channel simulation)"),
):
    """Build the proxy continuous corpus (docs/continuous.md): client-side recordings from one
    speaker's acted utterances, two simulated annotators at 2 Hz in [-1000, 1000]."""
    import pandas as pd

    from ..corpora import build_manifest
    from ..errors import CallemoError
    from ..simulate.continuous_proxy import build_proxy

    corpora = _pairs(corpus, "--corpus")
    if not corpora:
        raise CallemoError("give at least one --corpus NAME=FOLDER (e.g. --corpus ravdess=../shared/data/ravdess)")
    counts = {k: int(v) for k, v in _pairs(per_speaker, "--per-speaker").items()}
    m = pd.concat([build_manifest(k, v) for k, v in corpora.items()], ignore_index=True)
    p = build_proxy(m, output, recordings_per_speaker={k: counts.get(k, 1) for k in corpora},
                    duration=(min_duration, max_duration), seed=seed, telephone=not no_telephone)
    out.print(f"wrote {len(p.recordings)} recordings ({p.recordings['duration'].sum() / 60:.1f} min) to {output}",
              highlight=False)


def _load_folder(folder: Path):
    import pandas as pd

    from ..errors import CallemoError
    from ..io import load_audio
    from ..labels.continuous import gold_standard, read_continuous

    rec_p, ann_p = folder / "recordings.csv", folder / "annotations.csv"
    for p in (rec_p, ann_p):
        if not p.exists():
            raise CallemoError(f"{p}: not found (a training folder needs recordings.csv and annotations.csv)")
    rec = pd.read_csv(rec_p)
    for col in ("file", "path"):
        if col not in rec.columns:
            raise CallemoError(f"{rec_p}: missing column {col!r}")
    ann = read_continuous(ann_p)
    rate = 2.0
    gold = gold_standard(ann, "mean", rate_hz=rate)
    missing = sorted(set(rec["file"].astype(str)) - set(gold["file"]))
    if missing:
        raise CallemoError(f"{ann_p}: no annotations for recording(s) {', '.join(missing[:5])}")
    signals = []
    for _, r in rec.iterrows():
        p = Path(r["path"])
        p = p if p.is_absolute() else folder / p
        x, _ = load_audio(p, sr=8000)
        signals.append(x)
    return rec, gold, signals


@app.command("continuous-train")
@friendly_errors
def continuous_train(
    folder: Path = typer.Argument(..., help="folder with recordings.csv + annotations.csv (e.g. a proxy corpus)"),
    output: Path = typer.Option(..., "--output", "-o", help="model directory to write"),
    config: str = typer.Option("raw_cnn_lstm_proxy", "--config", "-c", help="configuration name or YAML path"),
    epochs: int | None = typer.Option(None, help="override the number of epochs"),
    context: str = typer.Option("empathy", help="recordings.csv column used as the context target (0-10)"),
    valid_fraction: float = typer.Option(0.15, help="fraction of speakers held out to pick the best epoch"),
    seed: int = typer.Option(0),
    device: str = typer.Option("cpu", help="cpu, cuda or auto"),
):
    """Train the raw-waveform CNN-LSTM regressor (paper 000) on continuous traces."""
    import numpy as np

    from ..labels.continuous import traces_from_gold
    from ..models.raw_cnn_lstm import RawCNNLSTMModel
    from ..train.config import load_config
    from ..train.continuous import fit_continuous

    cfg = load_config(config)
    cfg.update({"seed": seed, "device": device})
    if epochs:
        cfg["epochs"] = epochs
    rec, gold, signals = _load_folder(folder)
    files = rec["file"].astype(str).tolist()
    hop = float(cfg.get("label_hop", 0.5))
    traces = traces_from_gold(gold, files, hop, [len(x) / 8000 for x in signals])
    ctx = [(float(v) - 5.0) / 5.0 for v in rec[context]] if context in rec.columns else None
    gen = rec["gender"].tolist() if "gender" in rec.columns else None
    spk = rec["speaker"].astype(str).to_numpy() if "speaker" in rec.columns else np.array(files)
    rng = np.random.default_rng(seed)
    uniq = rng.permutation(np.unique(spk))
    n_val = int(round(len(uniq) * valid_fraction)) if len(uniq) > 2 else 0
    val = np.isin(spk, uniq[:n_val])
    idx, vidx = np.flatnonzero(~val), np.flatnonzero(val)
    pick = lambda seq, ii: None if seq is None else [seq[i] for i in ii]  # noqa: E731
    valid = None
    if len(vidx):
        valid = {"signals": pick(signals, vidx), "traces": pick(traces, vidx), "context": pick(ctx, vidx),
                 "gender": pick(gen, vidx)}
    model = RawCNNLSTMModel(cfg)
    fit_continuous(model, [signals[i] for i in idx], [traces[i] for i in idx], context=pick(ctx, idx),
                   gender=pick(gen, idx), valid=valid, log=lambda m: out.print(m, highlight=False))
    model.save(output, training_data={"folder": str(folder), "recordings": len(idx), "validation": len(vidx)})
    out.print(f"wrote {output}", highlight=False)


@app.command("continuous-predict")
@friendly_errors
def continuous_predict(
    model_dir: Path = typer.Argument(..., help="a raw_cnn_lstm model directory"),
    audio: list[Path] = typer.Argument(..., help="audio files (one speaker each, e.g. a client's channel)"),
    output: Path = typer.Option(..., "--output", "-o", help="CSV to write: file,time,valence,arousal"),
    label_hop: float | None = typer.Option(None, help="seconds between curve points (default: the model's)"),
):
    """Time-continuous valence/arousal curves of audio files."""
    import pandas as pd

    from ..io import load_audio
    from ..models.base import ModelError, load_model

    model = load_model(model_dir)
    if not (hasattr(model, "predict_curves") and hasattr(model, "curve_times")):
        raise ModelError(f"{model_dir}: a {model.model_type} model has no continuous curves")
    rows = []
    for p in audio:
        x, _ = load_audio(p, sr=model.sample_rate)
        c = model.predict_curves([x], label_hop=label_hop)[0]
        t = model.curve_times(len(x), label_hop)
        rows.append(pd.DataFrame({"file": str(p), "time": t, "valence": c[:, 0], "arousal": c[:, 1]}))
    df = pd.concat(rows, ignore_index=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(output, index=False, float_format="%.4f")
    out.print(f"wrote {len(df)} points for {len(audio)} file(s) to {output}", highlight=False)
