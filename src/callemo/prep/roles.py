"""Roles: which speaker is the agent and which the client.

* Mono (diarized) calls: the first speaker to talk is the agent, who answers the call
  (``first_speaker="agent"``, the default); ``first_speaker="client"`` flips it (outbound calls).
  "First to talk" ignores blips: it is the speaker of the first turn lasting at least
  ``min_first`` seconds. Every other speaker gets the other role.
* Stereo calls: each channel is one speaker and the channel names give the roles
  (``channels=["agent", "client"]``; default channel 0 = agent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import CallemoError

ROLE_NAMES = ("agent", "client")


class RoleError(CallemoError, ValueError):
    """Bad role / channel settings."""


def _other(role: str) -> str:
    return "client" if role == "agent" else "agent"


def channel_roles(value: str | Sequence[str] | None) -> list[str] | Literal["mono"] | None:
    """The one parser of a ``channels`` setting (CLI, service, stream, ``AnalysisOptions``):
    ``None`` / ``""`` -> ``None`` (default order), ``"mono"`` -> ``"mono"`` (mix down and diarize),
    ``"agent,client"`` or ``["agent", "client"]`` -> the roles of the channels in order (distinct
    agent / client names); :class:`RoleError` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().lower() == "mono":
        return "mono"
    if isinstance(value, str):
        names = [c.strip().lower() for c in value.split(",") if c.strip()]
    elif isinstance(value, (list, tuple)) and all(isinstance(c, str) for c in value):
        names = [c.strip().lower() for c in value]
    else:
        names = []
    if not names or any(n not in ROLE_NAMES for n in names) or len(set(names)) != len(names):
        raise RoleError("must name the stereo channels in order with agent/client, e.g. 'agent,client', "
                        f"or be 'mono' (got {value!r})")
    return names


def parse_channels(channels: str | Sequence[str] | None, n_channels: int = 2) -> list[str]:
    """Channel roles of an ``n_channels`` recording from ``"agent,client"`` / a list / ``None``
    (default: agent, client); :class:`RoleError` when they do not fit."""
    parsed = channel_roles(channels)
    if parsed == "mono":
        raise RoleError("channels 'mono' names no channel roles")
    names = ["agent", "client"][:n_channels] if parsed is None else parsed
    if len(names) != n_channels:
        raise RoleError(f"--channels names {len(names)} channel(s) ({','.join(names)}) but the audio has {n_channels}")
    return names


def assign_roles(
    table: pd.DataFrame,
    first_speaker: str = "agent",
    *,
    channels: Sequence[str] | None = None,
    min_first: float = 0.5,
) -> pd.DataFrame:
    """Add a ``role`` column (``agent`` / ``client``) to a turn table with a ``speaker`` column.

    With ``channels`` (stereo) the role of a row is the name of its ``channel`` when that name is
    a role (other names give role ``unknown``). Otherwise the speaker of the first turn of at least
    ``min_first`` seconds gets ``first_speaker`` and the others the other role.
    """
    if first_speaker not in ROLE_NAMES:
        raise RoleError(f"first speaker must be 'agent' or 'client' (got {first_speaker!r})")
    df = table.copy()
    if df.empty:
        df["role"] = pd.Series(dtype=object)
        return df
    if channels is not None:
        if "channel" not in df.columns:
            raise RoleError("channel names given but the table has no 'channel' column")
        names = list(channels)
        df["role"] = [names[int(c)] if names[int(c)] in ROLE_NAMES else "unknown" for c in df["channel"]]
        return df
    starts = df.index.get_level_values("start").to_numpy()
    ends = df.index.get_level_values("end").to_numpy()
    order = np.argsort(starts, kind="stable")
    long_enough = [i for i in order if ends[i] - starts[i] >= min_first]
    first = df["speaker"].iloc[long_enough[0] if long_enough else order[0]]
    df["role"] = np.where(df["speaker"].to_numpy() == first, first_speaker, _other(first_speaker))
    return df


def role_accuracy(pred: pd.DataFrame, truth: pd.DataFrame, step: float = 0.01) -> float:
    """Share of the truth's speech time whose predicted role matches (tables with start/end/role
    as columns or index levels; overlapped truth counts as matched by either role)."""
    def intervals(df):
        f = df.reset_index() if "start" not in df.columns else df
        return f["start"].to_numpy(float), f["end"].to_numpy(float), f["role"].astype(str).to_numpy()

    ts, te, tr = intervals(truth)
    ps, pe, pr = intervals(pred)
    if len(ts) == 0:
        return float("nan")
    n = int(np.ceil(max(te.max(), pe.max() if len(pe) else 0) / step)) + 1
    grid = {r: np.zeros(n, bool) for r in ROLE_NAMES}
    for s, e, r in zip(ps, pe, pr):
        if r in grid:
            grid[r][int(s / step) : int(e / step)] = True
    speech = np.zeros(n, bool)
    ok = np.zeros(n, bool)
    for s, e, r in zip(ts, te, tr):
        sl = slice(int(s / step), int(e / step))
        speech[sl] = True
        if r in grid:
            ok[sl] |= grid[r][sl]
    return float(ok[speech].mean())
