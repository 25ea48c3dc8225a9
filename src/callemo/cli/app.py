"""The typer application every command module registers on."""

from __future__ import annotations

import functools

import typer
from rich.console import Console

from ..errors import CallemoError

app = typer.Typer(
    name="callemo",
    help="Emotional timelines for call-center recordings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()


def friendly_errors(fn):
    """Report CallemoError (bad file, bad row, bad model...) as one clear line, exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CallemoError as e:
            console.print(f"[bold red]error:[/] {e}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper
