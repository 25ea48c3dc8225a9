"""``callemo query OUT "SQL"``: SQL (DuckDB) over the results dataset of a batch."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NoReturn

import typer

from .app import app, console, friendly_errors, out

EXAMPLES = """
Examples (views: calls, one row per call; segments, one row per segment; both have a DATE column `date`):

  callemo query OUT "SELECT date, count(*) AS calls, avg(needs_review::INT) AS review_share
                     FROM calls GROUP BY date ORDER BY date"
  callemo query OUT "SELECT queue, avg(valence_client) AS client_valence, count(*) AS calls
                     FROM calls GROUP BY queue ORDER BY client_valence"
  callemo query OUT "SELECT call_id, start, text FROM segments
                     WHERE role = 'client' AND emotion = 'angry' AND text ILIKE '%cancel%'"
  callemo query OUT --compact      merge each date's per-call files into one (faster queries)
"""


def fail(message: str) -> NoReturn:
    """One line on stderr (never wrapped), exit code 2."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def connect(out_dir: Path, since: str | None = None, until: str | None = None) -> Any:
    """The DuckDB connection over ``out_dir``'s results dataset, or one line and exit code 2."""
    from ..analyze.dataset import DatasetError, open_dataset

    try:
        return open_dataset(out_dir, since=since, until=until)
    except DatasetError as e:
        fail(str(e))


def compact_dates(out_dir: Path, since: str | None, until: str | None) -> None:
    """Compact the dataset's partitions (from ``since`` to ``until``), saying how many calls moved."""
    from ..analyze.dataset import DatasetError, compact_dataset, dataset_dir, parse_date

    root = dataset_dir(out_dir) / "calls"
    if not root.is_dir():
        fail(f"{out_dir}: no results dataset ({root} does not exist)")
    try:
        lo, hi = (None if d is None else parse_date(d) for d in (since, until))
        days = sorted(d.name[len("date="):] for d in root.glob("date=*") if d.is_dir())
        days = [d for d in days if (lo is None or d >= lo) and (hi is None or d <= hi)]
        merged = compact_dataset(out_dir, dates=days)
    except (DatasetError, ValueError) as e:
        fail(str(e))
    console.print(f"compacted {sum(merged.values())} call part(s) of {len(merged)} date(s) in {out_dir}",
                  highlight=False)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "; ".join(_cell(x) for x in v)
    try:
        import pandas as pd

        if v is pd.NaT or (not isinstance(v, str) and bool(pd.isna(v))):
            return ""
    except (TypeError, ValueError):  # arrays: not a scalar
        pass
    return str(v)


@app.command(epilog=EXAMPLES)
@friendly_errors
def query(
    out_dir: Path = typer.Argument(..., help="output folder of callemo analyze (with its dataset/ folder)"),
    sql: str | None = typer.Argument(None, help="a DuckDB SQL query over the views calls and segments"),
    csv_file: Path | None = typer.Option(None, "--csv", help="write the result to this CSV file"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON records"),
    max_rows: int = typer.Option(50, "--max-rows", min=1, help="rows shown in the table (--csv/--json: all)"),
    since: str | None = typer.Option(None, "--since", help="only the calls from this date (YYYY-MM-DD; fast: the "
                                     "other days' files are not opened)"),
    until: str | None = typer.Option(None, "--until", help="only the calls up to this date (YYYY-MM-DD)"),
    compact: bool = typer.Option(False, "--compact", help="first merge each date's per-call files into one "
                                 "compacted file (with --since/--until: only those dates), then run SQL if given"),
) -> None:
    """Run SQL over the results dataset (OUT/dataset/, Parquet) with DuckDB and print the result.

    Views: calls (call_id, file, report, date, duration, needs_review, review_reasons, client_trend,
    client_end_valence, valence_client, talk_share_client, diarization_confidence, language, the list
    CSV's metadata columns such as queue...) and segments (call_id, start, end, speaker, role, emotion,
    confidence, valence, arousal, text, p_<label>...). Exit code 2 for a missing dataset or a bad query.
    """
    if compact:
        compact_dates(out_dir, since, until)
        if sql is None:
            return
    if sql is None:
        fail("give a SQL query (or --compact)")
    con = connect(out_dir, since, until)  # a missing dataset (or duckdb): one line, exit 2
    import duckdb

    try:
        df = con.sql(sql).df() if sql.strip() else None
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        fail(f"bad query: {first}")
    finally:
        con.close()
    if df is None:
        fail("bad query: it is empty")
    for c in df.columns:  # DATE columns come back as midnight timestamps: show them as dates
        col = df[c]
        if str(col.dtype).startswith("datetime64") and (col.dropna() == col.dropna().dt.normalize()).all():
            df[c] = col.dt.date
    if csv_file is not None:
        df.to_csv(csv_file, index=False)
        console.print(f"{len(df)} row(s) -> {csv_file}", highlight=False)
    if as_json:
        typer.echo(df.to_json(orient="records", date_format="iso", default_handler=str))
    elif csv_file is None:
        from rich.table import Table

        table = Table(show_header=True, header_style="bold", show_lines=False)
        for c in df.columns:
            table.add_column(str(c), overflow="fold")
        for row in df.head(max_rows).itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        out.print(table)
        more = len(df) - max_rows
        console.print(f"{len(df)} row(s)" + (f" ({more} not shown: --max-rows, --csv or --json)" if more > 0 else ""),
                      highlight=False)
