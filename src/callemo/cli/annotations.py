"""Annotation commands: ``callemo annotations agreement|gold|harmonise|context`` and ``callemo select``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from ..utils import format_number
from .app import app, friendly_errors, out

annotations_app = typer.Typer(
    name="annotations",
    help="Annotation workflow: agreement, gold standards, label harmonisation, context reports.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(annotations_app, name="annotations")

DIMENSION_CHOICES = ("valence", "arousal", "both")


def _fmt(v, digits: int = 3) -> str:
    return format_number(v, digits, "-")


def _fmt_p(p) -> str:
    try:
        f = float(p)
    except (TypeError, ValueError):
        return "-"
    if not math.isfinite(f):
        return "-"
    return "<0.001" if f < 0.001 else f"{f:.3f}"


def _write_json(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _is_categorical_csv(path: Path) -> bool:
    """A categorical annotation CSV names a label column (label / emotion / label_<annotator>)."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            header = f.readline().lower()
    except OSError:
        return False
    cols = [c.strip().strip('"') for c in header.split(",")]
    return any(c in ("label", "emotion", "category") or c.startswith(("label_", "emotion_")) for c in cols)


# ------------------------------------------------------------------------------------- agreement

@annotations_app.command("agreement")
@friendly_errors
def agreement(
    files: list[Path] = typer.Argument(..., help="continuous annotation files (long CSV or DARMA exports, one per "
                                                 "annotator) or one categorical annotation CSV"),
    json_out: Path | None = typer.Option(None, "--json", help="write the agreement as JSON"),
    csv_out: Path | None = typer.Option(None, "--csv", help="write the agreement table as CSV"),
    dimension: str = typer.Option("both", "--dimension", "-d", help="valence, arousal or both"),
    rate: float | None = typer.Option(None, "--rate", help="resample the traces to this rate (Hz) first; "
                                                              "default: as they are, or 2 Hz if their times differ"),
    bins: int = typer.Option(21, "--bins", help="levels of [-1, 1] for Krippendorff's alpha (0 = no quantising)"),
    scale: float | None = typer.Option(None, "--scale", help="full-scale value of the files (e.g. 1000); "
                                                                "default: 1000 when values exceed 1"),
    kind: str = typer.Option("auto", "--kind", help="auto, continuous or categorical"),
):
    """Inter-annotator agreement (ICC(3,1), Pearson, Krippendorff's alpha; or kappas for labels).

    A categorical CSV (with a label column) gets raw agreement, Cohen's / Fleiss' kappa and alpha."""
    if kind not in ("auto", "continuous", "categorical"):
        raise typer.BadParameter("--kind must be auto, continuous or categorical")
    if dimension not in DIMENSION_CHOICES:
        raise typer.BadParameter(f"--dimension must be one of {', '.join(DIMENSION_CHOICES)}")
    if kind == "categorical" or (kind == "auto" and len(files) == 1 and _is_categorical_csv(files[0])):
        if len(files) != 1:
            raise typer.BadParameter("categorical agreement takes one annotation CSV")
        return _categorical_agreement(files[0], json_out, csv_out)

    from ..labels.agreement import agreement_table, continuous_agreement, report_to_json
    from ..labels.continuous import read_continuous

    df = read_continuous(files, scale=scale)
    dims = ["valence", "arousal"] if dimension == "both" else [dimension]
    report = continuous_agreement(df, dimensions=dims, rate_hz=rate, bins=bins or None)
    table = agreement_table(report)
    _print_continuous(table, f"agreement of {df['annotator'].nunique()} annotators, {len(report)} recording(s)")
    if json_out:
        _write_json(report_to_json(report), json_out)
        out.print(f"wrote {json_out}", highlight=False)
    if csv_out:
        csv_out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(csv_out, index=False, float_format="%.6g")
        out.print(f"wrote {csv_out}", highlight=False)


def _print_continuous(table, title: str, kept: set[str] | None = None) -> None:
    from rich.table import Table

    t = Table(title=title)
    for c in ("file", "dim", "ICC(3,1)", "95% CI", "r", "alpha", "n", "raters"):
        t.add_column(c, justify="left" if c in ("file", "dim") else "right", no_wrap=True,
                     min_width=min(max([len(str(f)) for f in table["file"]] + [4]), 24) if c == "file" else None)
    if kept is not None:
        t.add_column("kept")
    for r in table.itertuples(index=False):
        row = [str(r.file), r.dimension, _fmt(r.icc), f"{_fmt(r.icc_low, 2)}..{_fmt(r.icc_high, 2)}",
               _fmt(r.pearson), _fmt(r.alpha), str(r.n), str(r.n_annotators)]
        if kept is not None:
            row.append("yes" if r.file in kept else "[red]no[/]")
        t.add_row(*row)
    out.print(t)


def _categorical_agreement(path: Path, json_out: Path | None, csv_out: Path | None) -> None:
    import pandas as pd

    from ..labels.agreement import categorical_agreement, report_to_json
    from ..labels.categorical import canonical_labels, items_wide, read_categorical

    res = categorical_agreement(items_wide(canonical_labels(read_categorical(path))))
    _print_categorical(res, f"{path.name}: {res['n_items']} items, {res['n_annotators']} annotators")
    if json_out:
        _write_json(report_to_json(res), json_out)
        out.print(f"wrote {json_out}", highlight=False)
    if csv_out:
        rows = [{"pair": k, **v} for k, v in res["pairs"].items()]
        rows.append({"pair": "all", "agreement": res["raw_agreement"], "cohen_kappa": res["cohen_kappa"],
                     "n": res["n_complete"], "fleiss_kappa": res["fleiss_kappa"], "alpha": res["alpha"]})
        csv_out.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(csv_out, index=False, float_format="%.6g")
        out.print(f"wrote {csv_out}", highlight=False)


def _print_categorical(res: dict, title: str) -> None:
    from rich.table import Table

    t = Table(title=title)
    t.add_column("measure")
    t.add_column("value", justify="right")
    for k, label in (("raw_agreement", "raw agreement (all annotators equal)"),
                     ("pairwise_agreement", "pairwise agreement"),
                     ("cohen_kappa", "Cohen's kappa" + (" (mean over pairs)" if res["n_annotators"] > 2 else "")),
                     ("fleiss_kappa", "Fleiss' kappa"), ("alpha", "Krippendorff's alpha (nominal)")):
        t.add_row(label, _fmt(res[k]))
    t.add_row("items (complete)", f"{res['n_items']} ({res['n_complete']})")
    out.print(t)


# ------------------------------------------------------------------------------------------ gold

@annotations_app.command("gold")
@friendly_errors
def gold(
    files: list[Path] = typer.Argument(..., help="continuous annotation files (long CSV or DARMA exports)"),
    output: Path = typer.Option(..., "--output", "-o",
                                help="gold-standard CSV to write (file,time,valence,arousal,...)"),
    rate: float = typer.Option(2.0, "--rate", help="common sampling rate (Hz) of the gold standard"),
    rule: str = typer.Option("mean", "--rule", help="mean, median or ewe (evaluator weighted estimator)"),
    method: str = typer.Option("cubic", "--method", help="resampling: cubic, linear, previous or nearest"),
    min_icc: float | None = typer.Option(None, "--min-icc", help="keep recordings whose ICC exceeds this "
                                                                     "(paper 000: 0.7 on valence)"),
    icc_dimension: str = typer.Option("valence", "--icc-dimension", help="dimension(s) the ICC filter looks at: "
                                                                         "valence, arousal or both"),
    json_out: Path | None = typer.Option(None, "--json", help="also write the agreement report as JSON"),
    scale: float | None = typer.Option(None, "--scale", help="full-scale value of the files (default: auto)"),
):
    """Gold standard of continuous annotations, keeping the recordings that pass an ICC filter.

    Traces are resampled to --rate (cubic spline) and combined by --rule (mean of the annotators)."""
    from ..labels.agreement import agreement_table, continuous_agreement, report_to_json
    from ..labels.continuous import GOLD_RULES, gold_standard, read_continuous, resample_traces, write_continuous

    if rule not in GOLD_RULES:
        raise typer.BadParameter(f"--rule must be one of {', '.join(GOLD_RULES)}")
    if method not in ("cubic", "linear", "previous", "nearest"):
        raise typer.BadParameter("--method must be cubic, linear, previous or nearest")
    if icc_dimension not in DIMENSION_CHOICES:
        raise typer.BadParameter(f"--icc-dimension must be one of {', '.join(DIMENSION_CHOICES)}")
    if rate <= 0:
        raise typer.BadParameter("--rate must be positive")
    df = read_continuous(files, scale=scale)
    res = resample_traces(df, rate, method=method)
    report = continuous_agreement(res)
    icc_dims = ["valence", "arousal"] if icc_dimension == "both" else [icc_dimension]
    if min_icc is not None:
        from ..labels.agreement import reliable_files

        keep = set(reliable_files(report, min_icc, icc_dims))
    else:
        keep = set(report)
    g = gold_standard(res[res["file"].isin(keep)], rule=rule) if keep else None
    _print_continuous(agreement_table(report), f"{len(report)} recording(s) at {rate:g} Hz"
                      + (f"; ICC({'/'.join(icc_dims)}) > {min_icc:g}: {len(keep)} kept" if min_icc is not None else ""),
                      kept=keep)
    if g is None or g.empty:
        import pandas as pd

        g = pd.DataFrame(columns=["file", "time", "valence", "arousal", "n_annotators"])
        out.print("[yellow]no recording passed the ICC filter; the gold standard is empty[/]")
    write_continuous(g, output)
    out.print(f"wrote {output} ({len(g)} samples of {g['file'].nunique()} recording(s), rule {rule})", highlight=False)
    if json_out:
        _write_json({"rate_hz": rate, "rule": rule, "min_icc": min_icc, "icc_dimension": icc_dims,
                     "kept": sorted(keep), "agreement": report_to_json(report)}, json_out)
        out.print(f"wrote {json_out}", highlight=False)


# ------------------------------------------------------------------------------------- harmonise

@annotations_app.command("harmonise")
@friendly_errors
def harmonise_cmd(
    annotations: Path = typer.Argument(..., help="categorical annotations CSV (long or wide)"),
    output: Path = typer.Option(..., "--output", "-o", help="manifest CSV to write"),
    rule: str = typer.Option("majority", "--rule", help="majority, emotional-wins (paper 001) or discard"),
    tie: str = typer.Option("discard", "--tie", help="majority ties: discard, emotional-wins or first"),
    min_count: int = typer.Option(0, "--min-count", help="drop classes with fewer items (paper 001: 30)"),
    merge: list[str] = typer.Option([], "--merge", help="merge a class into another: annoyed=angry (repeatable)"),
    binary: bool = typer.Option(False, "--binary", help="neutral vs emotional"),
    neutral: str = typer.Option("neutral,calm", "--neutral", help="labels that count as neutral (comma-separated)"),
    absolute: bool = typer.Option(False, "--absolute", help="write absolute audio paths (default: relative to "
                                                             "the manifest's folder)"),
    gold_csv: Path | None = typer.Option(None, "--gold", help="continuous gold standard (from `annotations "
                                                                  "gold`): adds each item's mean valence/arousal "
                                                                  "and keeps only the recordings it holds"),
    context_csv: Path | None = typer.Option(None, "--context", help="context annotations CSV: adds gender, "
                                                                        "empathy, engagement (per role) and the "
                                                                        "call-level context columns"),
    json_out: Path | None = typer.Option(None, "--json", help="write agreement and counts as JSON"),
):
    """Gold labels of categorical annotations, harmonised into a manifest for `callemo train`.

    Order: canonical names, --merge, gold --rule, --min-count, --binary."""
    from rich.table import Table

    from ..labels.agreement import report_to_json
    from ..labels.categorical import RULES, TIE_RULES, harmonise, read_categorical
    from ..train.manifest import write_gold_manifest

    if rule not in RULES:
        raise typer.BadParameter(f"--rule must be one of {', '.join(RULES)}")
    if tie not in TIE_RULES:
        raise typer.BadParameter(f"--tie must be one of {', '.join(TIE_RULES)}")
    for m in merge:
        if "=" not in m or not all(s.strip() for s in m.split("=", 1)):
            raise typer.BadParameter(f"--merge {m!r} is not of the form label=target")
    neutral_labels = tuple(x.strip().lower() for x in neutral.split(",") if x.strip())
    df = read_categorical(annotations)
    res = harmonise(df, rule=rule, tie=tie, min_count=min_count, merge=merge, binary=binary, neutral=neutral_labels)
    if gold_csv is not None:
        from ..labels.continuous import attach_gold, read_gold

        res.items = attach_gold(res.items, read_gold(gold_csv), drop_missing=True)
        res.steps.append(("in the continuous gold standard", len(res.items)))
    if context_csv is not None:
        from ..labels.context import attach_context, read_context

        res.items = attach_context(res.items, read_context(context_csv))
    _print_categorical(res.agreement, f"{annotations.name}: agreement of {res.agreement['n_annotators']} annotators")
    t = Table(title="harmonisation")
    t.add_column("step")
    t.add_column("items", justify="right")
    for step, n in res.steps:
        t.add_row(step, str(n))
    out.print(t)
    if res.dropped_classes:
        out.print(f"dropped classes under {min_count} items: {', '.join(res.dropped_classes)}", highlight=False)
    counts = res.counts()
    t = Table(title=f"gold labels ({len(res.items)} items)")
    t.add_column("emotion")
    t.add_column("items", justify="right")
    t.add_column("speakers", justify="right")
    for emo, n in counts.items():
        t.add_row(str(emo), str(int(n)), str(res.items.loc[res.items["emotion"] == emo, "speaker"].nunique()))
    out.print(t)
    if len(res.items) == 0:
        from ..labels.continuous import AnnotationError

        raise AnnotationError(annotations, None, "no item is left after the gold rule and harmonisation")
    write_gold_manifest(res.items, output, relative=not absolute)
    out.print(f"wrote {output}", highlight=False)
    if json_out:
        _write_json({"rule": rule, "tie": tie, "min_count": min_count, "merge": merge, "binary": binary,
                     "agreement": report_to_json(res.agreement), "steps": res.steps,
                     "dropped_classes": res.dropped_classes, "counts": {str(k): int(v) for k, v in counts.items()}},
                    json_out)
        out.print(f"wrote {json_out}", highlight=False)


# --------------------------------------------------------------------------------------- context

@annotations_app.command("context")
@friendly_errors
def context(
    path: Path = typer.Argument(..., help="context annotations CSV"),
    out_dir: Path = typer.Option(Path("context_report"), "--out", help="folder for the CSV tables and heatmaps"),
):
    """Validate context annotations; Pearson correlations between variables and annotators.

    Writes the tables (CSV), heatmaps (PNG) and the gold context to --out."""
    from rich.table import Table

    from ..labels.context import context_gold, context_report, read_context

    df = read_context(path)
    rep = context_report(df, out_dir)
    t = Table(title=f"{path.name}: {df['file'].nunique()} recordings, {df['annotator'].nunique()} annotators - "
                    "agreement between annotators")
    for c in ("variable", "annotators", "Pearson r", "p", "n"):
        t.add_column(c, justify="left" if c in ("variable", "annotators") else "right")
    for r in rep["annotators"].itertuples(index=False):
        t.add_row(r.variable, f"{r.annotator_a} / {r.annotator_b}", _fmt(r.r), _fmt_p(r.p), str(r.n))
    out.print(t)
    t = Table(title="correlations between context variables (mean of annotators), p < .05")
    for c in ("variable", "variable ", "Pearson r", "p", "n"):
        t.add_column(c, justify="left" if c.startswith("variable") else "right")
    sig = rep["variables"]
    sig = sig[sig["p"] < 0.05].sort_values("p")
    for r in sig.itertuples(index=False):
        t.add_row(r.a, r.b, _fmt(r.r), _fmt_p(r.p), str(r.n))
    out.print(t)
    gold_path = Path(out_dir) / "context_gold.csv"
    context_gold(df).to_csv(gold_path, index=False, float_format="%.4g")
    for f in rep["files"] + [str(gold_path)]:
        out.print(f"wrote {f}", highlight=False)


# ---------------------------------------------------------------------------------------- select

@app.command("select")
@friendly_errors
def select(
    calls: list[Path] = typer.Argument(..., help="folder(s) of recordings (searched recursively) or audio files"),
    top: int | None = typer.Option(None, "--top", "-n", help="show / write only the first N"),
    json_out: Path | None = typer.Option(None, "--json", help="write the ranking as JSON"),
    csv_out: Path | None = typer.Option(None, "--csv", help="write the ranking as CSV"),
    backend: str = typer.Option("auto", "--backend", help="auto (eGeMAPS if openSMILE is installed, else "
                                                          "prosody), egemaps, prosody or yin"),
    no_compress: bool = typer.Option(False, "--no-compress", help="do not compress long silences first"),
    max_silence: float = typer.Option(3.0, "--max-silence", help="silences longer than this (s) are compressed"),
    target: float = typer.Option(1.0, "--target", help="... to this length (s)"),
    vad: str = typer.Option("energy", "--vad", help="silence detection: energy or silero"),
):
    """Rank recordings by F0 variability after silence compression: emotional calls first (paper 000).

    Measure: eGeMAPS F0 stddevNorm with openSMILE, else the prosody set's f0_std_semitones."""
    from rich.table import Table

    from ..train.selection import BACKENDS, rank_calls

    if backend not in BACKENDS:
        raise typer.BadParameter(f"--backend must be one of {', '.join(BACKENDS)}")
    if vad not in ("energy", "silero"):
        raise typer.BadParameter("--vad must be energy or silero")
    df = rank_calls(calls, top=top, backend=backend, compress_silence=not no_compress, max_silence=max_silence,
                    target=target, vad=vad, progress=True)
    feature = df["feature"].iloc[0] if len(df) else ""
    t = Table(title=f"recordings by F0 variability ({df['backend'].iloc[0] if len(df) else backend}: {feature})")
    for c in ("rank", "recording", "F0 variability", "duration (s)", "compressed (s)"):
        t.add_column(c, justify="left" if c == "recording" else "right")
    for r in df.itertuples(index=False):
        name = Path(r.path).name
        if r.error:
            name += f" [red]({r.error})[/]"
        t.add_row(str(r.rank), name, _fmt(r.score), _fmt(r.duration, 1), _fmt(r.compressed_duration, 1))
    out.print(t)
    if df.attrs.get("notes"):
        out.print(f"[yellow]{df.attrs['notes']}[/]")
    if csv_out:
        csv_out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(csv_out, index=False, float_format="%.6g")
        out.print(f"wrote {csv_out}", highlight=False)
    if json_out:
        _write_json(json.loads(df.to_json(orient="records")), json_out)
        out.print(f"wrote {json_out}", highlight=False)
