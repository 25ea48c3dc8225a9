"""``callemo report OUT -o archive.html``: the archive page of a batch's results dataset."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from .app import app, console, friendly_errors


@app.command()
@friendly_errors
def report(
    out_dir: Path = typer.Argument(..., help="output folder of callemo analyze (with its dataset/ folder)"),
    output: Path = typer.Option(Path("archive.html"), "--output", "-o", help="the page to write"),
    where: str | None = typer.Option(None, "--where",
        help="SQL condition on the calls, e.g. \"date >= '2024-01-01' AND queue = 'billing'\""),
    worst: int = typer.Option(25, "--worst", min=1, help="how many calls the 'look at first' table lists"),
    title: str = typer.Option("Call archive", "--title", help="the page's title"),
    since: str | None = typer.Option(None, "--since", help="only the calls from this date (YYYY-MM-DD)"),
    until: str | None = typer.Option(None, "--until", help="only the calls up to this date (YYYY-MM-DD)"),
) -> None:
    """Write one self-contained HTML page of the whole archive: calls over time, the share needing
    review and why, client trends, client valence at the end, emotions by role, the worst calls
    (linked to their reports) and a transcript search when the calls were transcribed."""
    from ..io.files import atomic_write_text
    from ..report.archive import render_archive
    from .query import connect, fail

    con = connect(out_dir, since, until)
    import duckdb

    cond = f"WHERE {where}" if where else ""
    try:
        calls = con.sql(f"SELECT * FROM calls {cond}").df()
        segments = con.sql("SELECT call_id, start, \"end\", role, emotion, valence, text FROM segments "
                           f"WHERE call_id IN (SELECT call_id FROM calls {cond}) ORDER BY call_id, start").df()
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        fail(f"bad --where: {first}")
    finally:
        con.close()
    page_dir = output.resolve().parent
    out_root = out_dir.resolve()

    def link(rel: object) -> str | None:
        if not isinstance(rel, str) or not (out_root / rel).is_file():
            return None
        return Path(os.path.relpath(out_root / rel, page_dir)).as_posix()

    calls["report"] = [link(r) for r in calls["report"]]
    page = render_archive(calls, segments, title=title, worst=worst, source=str(out_dir))
    atomic_write_text(output, page)
    console.print(f"{len(calls)} call(s) -> {output} ({len(page) / 1e6:.1f} MB)", highlight=False)
