"""The ``callemo`` command. Each module of this package registers its commands on ``app``."""

from __future__ import annotations

import importlib

from .app import app

#: command modules, imported when the CLI starts (each keeps heavy imports inside its commands)
COMMAND_MODULES = [
    "callemo.cli.data",         # corpus
    "callemo.cli.cache",        # cache info, cache prune
    "callemo.cli.modelling",    # train, predict, evaluate, crossval
    "callemo.cli.compare",      # compare (two configurations over seeds, Wilcoxon)
    "callemo.cli.continuous",   # continuous (proxy corpus, regressor training / evaluation)
    "callemo.cli.annotations",  # annotations ..., select
    "callemo.cli.calls",        # analyze, simulate
    "callemo.cli.service",      # serve
    "callemo.cli.query",        # query (SQL over the results dataset)
    "callemo.cli.report",       # report (the archive page)
]


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # a real missing dependency, not a module still to be written
                raise


def main() -> None:
    _load_commands()
    app()


__all__ = ["app", "main"]
