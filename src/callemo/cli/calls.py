"""``callemo analyze`` (calls -> emotional timelines) and ``callemo simulate`` (synthetic calls)."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console, friendly_errors, out


@app.command()
@friendly_errors
def analyze(
    paths: list[Path] = typer.Argument(..., help="call recordings, folders (searched recursively) or lists of calls "
                                        "(CSV: a path column and metadata columns such as date, queue, agent_id)"),
    out_dir: Path = typer.Option(Path("out"), "--out", "-o", help="output folder"),
    model: Path | None = typer.Option(None, "--model", "-m",
        help="model directory (default: the model shipped with callemo)"),
    channels: str | None = typer.Option(None, "--channels",
        help="stereo channel roles in order, e.g. agent,client (default: channel 0 = agent); 'mono' mixes down and "
             "diarizes"),
    speakers: str = typer.Option("2", "--speakers", help="speakers in a mono call: 1..10 or 'auto'"),
    first_speaker: str = typer.Option("agent", "--first-speaker",
        help="role of whoever talks first in a mono call: agent | client"),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="worker processes"),
    scheduler: str | None = typer.Option(None, "--scheduler",
        help="run on a Dask cluster: tcp://HOST:PORT (a running 'dask scheduler'; audio and --out must be visible to "
             "every worker at the same paths) or local:N (a local cluster of N workers); needs callemo[dask]"),
    force: bool = typer.Option(False, "--force", help="redo calls already analysed"),
    max_silence: float = typer.Option(3.0, "--max-silence", min=0.0,
        help="silences longer than this (s) are compressed for processing"),
    target_silence: float = typer.Option(1.0, "--target-silence", min=0.0, help="...to this length (s)"),
    smooth: float = typer.Option(1.0, "--smooth", min=0.0,
        help="Gaussian smoothing of the 2 Hz curves (sigma, s; 0 = none)"),
    emotions: str = typer.Option("client", "--emotions", help="whose emotions to infer: client (default; inferring "
                                 "employees' emotions at work is prohibited in the EU, AI Act Art. 5(1)(f)) | all"),
    vad_threshold: float | None = typer.Option(None, "--vad-threshold",
        help="speech probability that starts speech (default 0.35 on a one-speaker channel, as in the live "
             "stream, and 0.25 on a mono recording of both speakers; a value given here applies to both)"),
    fmt: str = typer.Option("csv", "--format", help="segment table format: csv | parquet"),
    no_html: bool = typer.Option(False, "--no-html", help="no HTML report"),
    no_plot: bool = typer.Option(False, "--no-plot", help="no PNG plot"),
    audio: str = typer.Option("auto", "--audio",
        help="audio in the HTML report: auto (embed up to 30 min, else link) | embed | link | none"),
    no_dataset: bool = typer.Option(False, "--no-dataset",
        help="no results dataset (OUT/dataset/, Parquet for callemo query / callemo report)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    transcribe: bool = typer.Option(False, "--transcribe",
        help="transcribe each segment (offline Whisper; text in the JSON, CSV and report; slower than the analysis)"),
    language: str = typer.Option("auto", "--language", help="with --transcribe: auto (detect per call) | en | LANG"),
    asr: str | None = typer.Option(None, "--asr",
        help="with --transcribe: base (multilingual) | tiny.en (English only; default when --language en)"),
    redact: bool = typer.Option(True, "--redact/--no-redact",
        help="replace card/account/phone numbers and e-mails in transcripts by tags (default; --no-redact stores "
             "them as said)"),
    redact_names: bool = typer.Option(False, "--redact-names", help="also redact names"),
    redact_audio: bool = typer.Option(False, "--redact-audio",
        help="also mute the redacted words in the audio copies written (the report's embedded player)"),
) -> None:
    """Analyse call recordings: per-segment emotions, valence/arousal curves, summary, plot and report.

    Writes <name>.json, <name>.csv, <name>.png and <name>.html per call in --out, where <name> is the
    file's path under the folder given (or its name) minus the audio extension (call.2024-01-01.wav ->
    call.2024-01-01.json); names that would collide get _<extension> appended. Also summary.csv (one
    row per call), errors.csv (one row per call or path that failed) and the results dataset
    OUT/dataset/ (Parquet, one part per call; see callemo query and callemo report).

    A rerun skips a call only if it was finished with the same recording (size, modification
    time), model and settings; it redoes what changed (--force redoes everything). Ctrl-C or
    SIGTERM stops the batch keeping finished calls; rerun the command to resume.

    Exit codes: 0 all analysed or already done; 1 a call failed or a path was skipped (see
    errors.csv); 2 bad options, no audio found or an output folder that cannot be written;
    130 Ctrl-C; 143 SIGTERM.
    """
    from ..analyze.batch import analyze_batch
    from ..analyze.options import OptionsError, parse_options

    try:
        options = parse_options(channels=channels, speakers=speakers, first_speaker=first_speaker,
                                max_silence=max_silence, target_silence=target_silence, smooth=smooth,
                                emotions=emotions,
                                vad=None if vad_threshold is None else {"threshold": vad_threshold,
                                                                        "mix_threshold": vad_threshold},
                                transcribe=language if transcribe else None, asr=asr, redact=redact,
                                redact_names=redact_names, redact_audio=redact_audio)
    except OptionsError as e:
        raise typer.BadParameter(str(e)) from None
    if transcribe and not redact:
        console.print("[yellow]warning:[/] --no-redact: transcripts are stored as said, with any card numbers, "
                      "phone numbers and e-mails in them", highlight=False)
    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("--format must be csv or parquet")
    if audio not in ("auto", "embed", "link", "none"):
        raise typer.BadParameter("--audio must be auto, embed, link or none")
    res = analyze_batch(
        [str(p) for p in paths], out_dir, model=model, jobs=jobs, force=force, html=not no_html, plot=not no_plot,
        fmt=fmt, audio=audio, progress=not quiet, console=console, scheduler=scheduler, dataset=not no_dataset,
        options=options,
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
    manifest: Path = typer.Argument(
        ..., help="manifest of utterances (CSV: path, speaker, emotion[, start, end, gender, corpus])"),
    out_dir: Path = typer.Option(..., "--out", "-o", help="output folder for the calls and their ground truth"),
    calls: int = typer.Option(10, "--calls", "-n", min=1, help="how many calls"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    stereo: bool = typer.Option(False, "--stereo", help="also write stereo versions (agent on channel 0, client on 1)"),
    root: Path | None = typer.Option(None, "--root", help="folder that relative manifest paths start from"),
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
