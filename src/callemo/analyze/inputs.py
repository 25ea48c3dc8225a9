"""The audio files of a batch and the names of their outputs.

:func:`collect_inputs` expands files and folders into :class:`Job` s. Folders are searched
recursively for audio files (hidden names skipped; symbolic links to folders followed once, a
link back to a folder above it reported as a loop). A path that cannot be used (missing, a
dangling link, a symlink loop, a folder that cannot be read) becomes one message naming the path
and the problem.

Output names: the input's path relative to the folder argument (a file argument: its name) minus
the audio extension, so ``in/a/call.2024-01-01.wav`` is ``a/call.2024-01-01``. Names that would
collide, case-insensitively (``x.wav`` and ``x.flac``; two ``call.wav`` given as arguments; a
top-level ``summary`` or ``errors``, whose table would replace ``summary.csv`` / ``errors.csv``),
all get ``_<extension>``, and where that is not enough ``_<8 hex digits of the absolute path>``:
the same inputs always get the same names, and no two inputs ever share one.

A ``.csv`` argument is a list of calls (:func:`read_list`): a ``path`` column (relative paths start
from the list's folder; output names as for a folder argument) and any metadata columns (``date``,
``queue``, ``agent_id``...), which each :class:`Job` carries as ``meta`` (text) into the call's
JSON and the results dataset.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CallemoError

#: output names a call may not take at the top of the output folder: its table would replace
#: summary.csv or errors.csv (see callemo.analyze.outputs)
RESERVED_NAMES = frozenset({"summary", "errors"})


class BatchError(CallemoError, ValueError):
    """A batch that cannot start (no audio file found, output folder not writable)."""


# -- inputs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    path: str        # the audio file
    rel: str         # output name under the output folder, without extension (posix)
    #: the call's other columns in a list CSV, as ``(column, text)`` pairs (empty cells left out)
    meta: tuple[tuple[str, str], ...] = ()


@dataclass
class Inputs:
    jobs: list[Job] = field(default_factory=list)
    #: ``(path, message)`` of every input that cannot be used; the message names the path
    problems: list[tuple[str, str]] = field(default_factory=list)


def path_problem(path: str | os.PathLike[str], e: OSError) -> str:
    """One line naming ``path`` and what ``e`` (from stat / open) means for it."""
    p = os.fspath(path)
    if e.errno == errno.ELOOP:
        return f"{p}: symbolic link loop"
    if e.errno == errno.ENOENT and os.path.islink(p):
        return f"{p}: dangling symbolic link (its target {os.readlink(p)} does not exist)"
    if e.errno == errno.ENOENT:
        return f"{p}: not found"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{p}: permission denied"
    return f"{p}: {e.strerror or type(e).__name__}"


def _walk(root: Path, problems: list[tuple[str, str]]) -> Iterator[Path]:
    """Audio files under ``root`` (sorted, hidden names skipped). Symbolic links to folders are
    followed once; one that points back to a folder above it (a loop) is reported, not followed."""
    from ..io import AUDIO_EXTENSIONS

    def unreadable(e: OSError) -> None:
        name = e.filename or root
        problems.append((str(name), f"{name}: cannot read folder ({e.strerror or type(e).__name__}); skipped"))

    # the real folders from ``root`` down to each folder walked (a link into one of them is a loop)
    chains: dict[str, frozenset[str]] = {os.fspath(root): frozenset({os.path.realpath(root)})}
    searched: set[str] = set(chains[os.fspath(root)])
    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=True):
        chain = chains.pop(dirpath, frozenset({os.path.realpath(dirpath)}))
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            full = os.path.join(dirpath, d)
            target = os.path.realpath(full)
            if target in chain:
                problems.append((full, f"{full}: symbolic link loop (points to {target}); not followed"))
                continue
            if target in searched:  # a second link to a folder already searched
                continue
            searched.add(target)
            chains[full] = chain | {target}
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if f.startswith(".") or Path(f).suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            full = os.path.join(dirpath, f)
            try:
                os.stat(full)
            except OSError as e:  # dangling link, link loop
                problems.append((full, path_problem(full, e)))
                continue
            yield Path(full)


def _strip_audio_ext(rel: Path) -> str:
    """``a/call.2024-01-01.wav`` -> ``a/call.2024-01-01`` (only a known audio extension is removed)."""
    from ..io import AUDIO_EXTENSIONS

    name = rel.name
    if rel.suffix.lower() in AUDIO_EXTENSIONS and len(name) > len(rel.suffix):
        name = name[: -len(rel.suffix)]
    return (rel.parent / name).as_posix()


def _path_tag(path: Path) -> str:
    return hashlib.sha1(os.fsencode(os.path.abspath(path))).hexdigest()[:8]


def _unique_names(items: list[tuple[Path, str]]) -> list[str]:
    """Output names for ``(file, name)`` pairs such that no two are equal (case-insensitively) and
    no top-level name is reserved: colliding names get ``_<ext>``, then ``_<path hash>``."""
    names = [n for _, n in items]

    def clashes() -> set[str]:
        seen: dict[str, int] = {}
        for n in names:
            seen[n.lower()] = seen.get(n.lower(), 0) + 1
        return {k for k, c in seen.items() if c > 1} | {n.lower() for n in names if n.lower() in RESERVED_NAMES}

    bad = clashes()
    for i, (f, n) in enumerate(items):
        if n.lower() in bad:
            names[i] = f"{n}_{f.suffix.lstrip('.').lower() or 'file'}"
    bad = clashes()
    for i, (f, _) in enumerate(items):
        if names[i].lower() in bad:
            names[i] = f"{names[i]}_{_path_tag(f)}"
    if clashes():  # two absolute paths with the same 32-bit tag: not expected in practice
        raise BatchError(f"cannot give unique output names to: {', '.join(sorted(clashes()))}")
    return names


def read_list(path: str | os.PathLike[str]) -> tuple[list[tuple[Path, Path, dict[str, str]]], list[tuple[str, str]]]:
    """The calls of a list CSV: ``([(file, name, meta)], problems)``. ``name`` is the path relative to
    the list's folder (a file outside it: its name); ``meta`` the row's other non-empty cells. A list
    without a ``path`` column raises :class:`BatchError`; a row whose file cannot be used or whose
    ``date`` is not a date is a problem naming the list, the row and the reason."""
    import pandas as pd

    from .dataset import parse_date

    lst = Path(path)
    try:
        df = pd.read_csv(lst, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise BatchError(f"{lst}: cannot read the list of calls ({e})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if "path" not in df.columns:
        raise BatchError(f"{lst}: a list of calls needs a 'path' column (columns: {', '.join(df.columns)})")
    base = lst.parent
    items: list[tuple[Path, Path, dict[str, str]]] = []
    problems: list[tuple[str, str]] = []
    for i, row in enumerate(df.to_dict("records"), start=2):  # row 1 is the header
        where = f"{lst}, row {i}"
        raw = str(row.pop("path")).strip()
        meta = {k: str(v).strip() for k, v in row.items() if str(v).strip()}
        if not raw:
            problems.append((where, f"{where}: empty path"))
            continue
        f = Path(raw) if Path(raw).is_absolute() else base / raw
        try:
            if "date" in meta:
                meta["date"] = parse_date(meta["date"])
            st = os.stat(f)
        except ValueError as e:
            problems.append((str(f), f"{where}: {e}"))
            continue
        except OSError as e:
            problems.append((str(f), f"{where}: {path_problem(f, e)}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            problems.append((str(f), f"{where}: {f} is a folder (a list names files)"))
            continue
        try:
            name = f.resolve().relative_to(base.resolve())
        except ValueError:
            name = Path(f.name)
        items.append((f, name, meta))
    return items, problems


def collect_inputs(paths: Sequence[str | os.PathLike[str]]) -> Inputs:
    """Expand files and folders into jobs with unique output names, and the inputs that cannot
    be used (each with a message naming the path and the problem)."""
    found: list[tuple[Path, str]] = []
    metas: list[dict[str, str]] = []
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(f: Path, rel: Path, meta: dict[str, str] | None = None) -> None:
        real = os.path.realpath(f)
        if real not in seen:
            seen.add(real)
            found.append((f, _strip_audio_ext(rel)))
            metas.append(meta or {})

    for raw in paths:
        p = Path(raw)
        try:
            st = os.stat(p)
        except OSError as e:
            problems.append((str(p), path_problem(p, e)))
            continue
        if stat.S_ISDIR(st.st_mode):
            for f in _walk(p, problems):
                add(f, f.relative_to(p))
        elif p.suffix.lower() == ".csv":
            listed, bad = read_list(p)
            problems += bad
            for f, name, meta in listed:
                add(f, name, meta)
        else:
            add(p, Path(p.name))
    names = _unique_names(found)
    return Inputs([Job(str(f), n, tuple(sorted(m.items()))) for (f, _), n, m in zip(found, names, metas)], problems)


__all__ = ["RESERVED_NAMES", "BatchError", "Inputs", "Job", "collect_inputs", "path_problem", "read_list"]
