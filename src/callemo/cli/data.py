"""Data commands: ``callemo corpus`` (manifest of a shared corpus) and ``callemo manifest`` (check one)."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, friendly_errors, out

CORPUS_NAMES = ("ravdess", "savee", "nemo")


def _counts_table(df, title: str):
    from rich.table import Table

    t = Table(title=title)
    t.add_column("emotion")
    t.add_column("items", justify="right")
    t.add_column("speakers", justify="right")
    g = df.groupby("emotion")
    for emo, n in g.size().sort_values(ascending=False).items():
        t.add_row(str(emo), str(int(n)), str(int(g.get_group(emo)["speaker"].nunique())))
    t.add_row("[bold]total[/]", f"[bold]{len(df)}[/]", f"[bold]{df['speaker'].nunique()}[/]")
    return t


@app.command("corpus")
@friendly_errors
def corpus(
    name: str = typer.Argument(..., help="corpus: ravdess, savee or nemo"),
    directory: Path = typer.Argument(..., help="the corpus folder (e.g. ../shared/data/ravdess)"),
    output: Path = typer.Option(..., "--output", "-o", help="manifest CSV to write"),
    relative: bool = typer.Option(False, "--relative", help="write paths relative to the manifest's folder"),
):
    """Write the manifest of a public emotional-speech corpus (one row per file)."""
    from ..corpora import CorpusError, build_manifest
    from ..train.manifest import write_manifest

    if name.lower() not in CORPUS_NAMES:
        raise CorpusError(f"unknown corpus {name!r}; choose one of {', '.join(CORPUS_NAMES)}")
    df = build_manifest(name, directory)
    write_manifest(df, output, relative=relative)
    out.print(_counts_table(df, f"{name}: {len(df)} files, {df['speaker'].nunique()} speakers"))
    out.print(f"wrote {output}", highlight=False)


@app.command("manifest")
@friendly_errors
def manifest(
    path: Path = typer.Argument(..., help="manifest CSV to check"),
    labels: str | None = typer.Option(None, "--labels", help="comma-separated allowed labels"),
    setting: str | None = typer.Option(None, "--setting",
                                       help="show counts under a label setting: full, 4class, polarity, binary"),
    no_bounds: bool = typer.Option(False, "--no-bounds", help="do not open files to check segment bounds"),
):
    """Validate a manifest (files, segment bounds, labels) and show counts per emotion."""
    from ..train.manifest import read_manifest

    allowed = [x.strip() for x in labels.split(",") if x.strip()] if labels else None
    df = read_manifest(path, labels=allowed, check_bounds=not no_bounds)
    if setting:
        from ..labels.schemes import apply_setting

        df = apply_setting(df, setting)
    out.print(_counts_table(df, f"{path.name}: {len(df)} rows OK" + (f" ({setting})" if setting else "")))
