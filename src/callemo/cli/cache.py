"""``callemo cache info`` and ``callemo cache prune``: the size of the feature cache and its cleaning.

Training and cross-validation cache every item's features under ``$CALLEMO_CACHE/features``
(default ``~/.cache/callemo/features``; analysis does not use it). Nothing removes entries on its
own; ``prune`` drops entries unused for some days and/or the least recently used ones beyond a size.
"""

from __future__ import annotations

import datetime as dt

import typer

from ..errors import CallemoError
from .app import app, friendly_errors, out

cache_app = typer.Typer(help="Size and cleaning of the feature cache ($CALLEMO_CACHE/features).",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.1f} MiB"


@cache_app.command("info")
@friendly_errors
def info():
    """Entries and size of the feature cache, per extractor configuration."""
    from rich.console import JustifyMethod
    from rich.table import Table

    from ..features.cache import cache_root, cache_usage

    root = cache_root()
    rows = cache_usage(root)
    t = Table(title=f"feature cache {root}")
    columns: list[tuple[str, JustifyMethod]] = [("key", "left"), ("extractor", "left"), ("entries", "right"),
                                                ("size", "right"), ("last used", "left")]
    for c, j in columns:
        t.add_column(c, justify=j)
    for r in rows:
        t.add_row(r.key, r.extractor, f"{r.files:,}", _mb(r.bytes),
                  dt.datetime.fromtimestamp(r.newest).strftime("%Y-%m-%d %H:%M"))
    total_files = sum(r.files for r in rows)
    total_bytes = sum(r.bytes for r in rows)
    t.add_row("[bold]total[/]", "", f"[bold]{total_files:,}[/]", f"[bold]{_mb(total_bytes)}[/]", "")
    out.print(t)


@cache_app.command("prune")
@friendly_errors
def prune_cmd(
    max_size: str | None = typer.Option(None, "--max-size", help="keep at most this much, least recently used "
                                           "entries first out (e.g. 2G, 500M; 0 empties the cache)"),
    older_than: float | None = typer.Option(None, "--older-than",
                                            help="remove entries unused for more than these days"),
    dry_run: bool = typer.Option(False, "--dry-run", help="only say what would be removed"),
):
    """Remove old or least recently used feature-cache entries (they are recomputed when needed)."""
    from ..features.cache import cache_root, parse_size, prune

    if max_size is None and older_than is None:
        raise CallemoError("say what to remove: --max-size SIZE and/or --older-than DAYS")
    try:
        limit = parse_size(max_size) if max_size is not None else None
    except ValueError as e:
        raise CallemoError(f"--max-size: {e}") from None
    if older_than is not None and older_than < 0:
        raise CallemoError("--older-than must be >= 0 days")
    n, freed = prune(cache_root(), max_bytes=limit, older_than_days=older_than, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb} {n:,} entries ({_mb(freed)}) from {cache_root()}", highlight=False)
