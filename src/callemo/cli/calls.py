"""``callemo analyze`` (calls -> emotional timelines) and ``callemo simulate`` (synthetic calls)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import app, console, friendly_errors, out


def _speakers(value: str) -> int | str:
    v = str(value).strip().lower()
    if v == "auto":
        return "auto"
    try:
        n = int(v)
    except ValueError:
        raise typer.BadParameter(f"--speakers must be a number or 'auto', not {value!r}") from None
    if n < 1:
        raise typer.BadParameter("--speakers must be at least 1")
    return n


def _channels(value: Optional[str]) -> list[str] | str | None:
    if not value:
        return None
    if value.strip().lower() == "mono":
        return "mono"
    names = [c.strip() for c in value.split(",") if c.strip()]
    bad = [c for c in names if c not in ("agent", "client")]
    if bad or len(set(names)) != len(names):
        raise typer.BadParameter(f"--channels names the channels in order with agent/client, e.g. 'agent,client', or is 'mono' (got {value!r})")
    return names


@app.command()
@friendly_errors
def analyze(
    paths: List[Path] = typer.Argument(..., help="call recordings or folders (searched recursively)"),
    out_dir: Path = typer.Option(Path("out"), "--out", "-o", help="output folder"),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="model directory (default: the model shipped with callemo)"),
    channels: Optional[str] = typer.Option(None, "--channels", help="stereo channel roles in order, e.g. agent,client (default: channel 0 = agent); 'mono' mixes down and diarizes"),
    speakers: str = typer.Option("2", "--speakers", help="speakers in a mono call: a number or 'auto'"),
    first_speaker: str = typer.Option("agent", "--first-speaker", help="role of whoever talks first in a mono call: agent | client"),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="worker processes"),
    force: bool = typer.Option(False, "--force", help="redo calls already analysed"),
    max_silence: float = typer.Option(3.0, "--max-silence", min=0.0, help="silences longer than this (s) are compressed for processing"),
    target_silence: float = typer.Option(1.0, "--target-silence", min=0.0, help="...to this length (s)"),
    smooth: float = typer.Option(1.0, "--smooth", min=0.0, help="Gaussian smoothing of the 2 Hz curves (sigma, s; 0 = none)"),
    fmt: str = typer.Option("csv", "--format", help="segment table format: csv | parquet"),
    no_html: bool = typer.Option(False, "--no-html", help="no HTML report"),
    no_plot: bool = typer.Option(False, "--no-plot", help="no PNG plot"),
    audio: str = typer.Option("auto", "--audio", help="audio in the HTML report: auto (embed up to 30 min, else link) | embed | link | none"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Analyse call recordings: per-segment emotions, valence/arousal curves, summary, plot and report.

    Writes <stem>.json, <stem>.csv, <stem>.png and <stem>.html per call in --out, plus summary.csv
    (one row per call) and errors.csv. Rerunning skips finished calls. Exit code 1 when a call failed.
    """
    from ..analyze.batch import analyze_batch

    if first_speaker not in ("agent", "client"):
        raise typer.BadParameter("--first-speaker must be agent or client")
    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("--format must be csv or parquet")
    if audio not in ("auto", "embed", "link", "none"):
        raise typer.BadParameter("--audio must be auto, embed, link or none")
    res = analyze_batch(
        [str(p) for p in paths], out_dir, model=model, jobs=jobs, force=force, html=not no_html, plot=not no_plot,
        fmt=fmt, audio=audio, progress=not quiet, console=console,
        channels=_channels(channels), speakers=_speakers(speakers), first_speaker=first_speaker,
        max_silence=max_silence, target_silence=target_silence, smooth=smooth,
    )
    n_ok, n_skip, n_fail = len(res.done), len(res.skipped), len(res.failed)
    rtf = f", real-time factor {res.rtf:.3f}" if res.rtf else ""
    console.print(
        f"{n_ok} analysed, {n_skip} skipped (already done), {n_fail} failed"
        f" in {res.wall_seconds:.1f} s{rtf} -> {out_dir}/summary.csv" + (f", {out_dir}/errors.csv" if n_fail else ""),
        highlight=False,
    )
    if res.exit_code:
        raise typer.Exit(res.exit_code)


@app.command()
@friendly_errors
def simulate(
    manifest: Path = typer.Argument(..., help="manifest of utterances (CSV: path, speaker, emotion[, start, end, gender, corpus])"),
    out_dir: Path = typer.Option(..., "--out", "-o", help="output folder for the calls and their ground truth"),
    calls: int = typer.Option(10, "--calls", "-n", min=1, help="how many calls"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    stereo: bool = typer.Option(False, "--stereo", help="also write stereo versions (agent on channel 0, client on 1)"),
    root: Optional[Path] = typer.Option(None, "--root", help="folder that relative manifest paths start from"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Build synthetic two-speaker telephone calls with ground truth (RTTM + segment CSV) from a manifest."""
    from ..simulate.calls import simulate_calls

    src = manifest
    if root is not None:
        from ..train.manifest import read_manifest

        src = read_manifest(manifest, root=root)
    index = simulate_calls(src, out_dir, calls, seed, stereo="also" if stereo else False, progress=not quiet)
    total = float(index["duration"].sum()) if "duration" in getattr(index, "columns", []) else float("nan")
    out.print(f"{len(index)} call(s), {total / 60:.1f} min of audio, written to {out_dir} (index: {out_dir}/calls.csv)",
              highlight=False)
