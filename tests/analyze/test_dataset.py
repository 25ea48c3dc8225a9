"""The results dataset (OUT/dataset/, Parquet): written by a batch, one part per call whose rows
match the call's JSON; a resumed, redone or forced batch never duplicates a call; parts written by
several processes at once are all whole; lists of calls (CSV) carry their metadata into it.
Compaction merges a date's parts into one file: every row once, the same answers, a later redo of
a call still replaces its rows, a crash mid-compaction duplicates nothing, a resume redoes nothing."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import multiprocessing as mp
import os
from pathlib import Path

import pytest

import callemo.analyze.dataset as dataset
from callemo.analyze.batch import analyze_batch
from callemo.analyze.dataset import append_call, compact_dataset, open_dataset, part_name, rebuild_dataset
from callemo.analyze.inputs import BatchError, collect_inputs
from callemo.io import save_audio
from helpers.calls import make_call, tm

pytest.importorskip("pyarrow")
pytest.importorskip("duckdb")

PREP = tm.simple_prepare
FAST = dict(prepare=PREP, progress=False, html=False, plot=False)
#: client turns of different kinds, so the calls differ (the tiny model hears these kinds)
KINDS = ["neutral", "angry", "sad", "neutral"]


def make_calls(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        turns = [(0.5, 4.5, "neutral", 0), (5.0, 9.0, KINDS[i % 4], 1), (10.0, 13.0, "neutral", 0)]
        a, sr = make_call(turns, 14, stereo=True, seed=i)
        out.append(save_audio(folder / f"call{i}.wav", a, sr))
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tm.saved_model(tmp_path_factory.mktemp("model") / "tiny")


def parts(out: Path, table: str) -> list[Path]:
    return sorted(p for p in (out / "dataset" / table).rglob("*") if p.is_file())


def jsons(out: Path) -> dict[str, dict]:
    return {f.stem: json.loads(f.read_text()) for f in out.glob("*.json")}


def val(x):
    """NaN (a missing number in a DataFrame) as None (null in the JSON)."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def check_matches_jsons(out: Path) -> None:
    """Every finished call is once in ``calls`` and its segments once in ``segments``, as in its JSON."""
    docs = jsons(out)
    con = open_dataset(out)
    calls = con.sql("SELECT * FROM calls ORDER BY call_id").df().set_index("call_id")
    segs = con.sql("SELECT * FROM segments ORDER BY call_id, start").df()
    assert sorted(calls.index) == sorted(docs) and calls.index.is_unique
    for rel, doc in docs.items():
        s, row = doc["summary"], calls.loc[rel]
        assert row["file"] == doc["file"] and row["duration"] == pytest.approx(doc["duration"])
        assert bool(row["needs_review"]) == s["needs_review"]
        assert list(row["review_reasons"]) == s["review_reasons"]
        assert row["client_trend"] == s["client_trend"]["direction"]
        assert val(row["client_end_valence"]) == val(s["client_trend"]["end_valence"])
        assert row["talk_share_client"] == pytest.approx(s["talk_share"]["client"])
        assert row["n_segments"] == s["n_segments"] == len(doc["segments"])
        mine = segs[segs["call_id"] == rel]
        assert len(mine) == len(doc["segments"])
        for (_, r), g in zip(mine.iterrows(), doc["segments"]):
            assert (r["start"], r["end"], r["role"], r["speaker"]) == (g["start"], g["end"], g["role"], g["speaker"])
            assert val(r["emotion"]) == g["emotion"] and val(r["valence"]) == g["valence"]
            for lab, p in (g["probabilities"] or {}).items():
                assert r[f"p_{lab}"] == pytest.approx(p)
    con.close()


def test_batch_writes_the_dataset_and_a_resume_or_redo_never_duplicates(tmp_path, model_dir):
    make_calls(tmp_path / "in", 4)
    out = tmp_path / "out"
    res = analyze_batch([tmp_path / "in"], out, model=model_dir, jobs=2, **FAST)  # two processes write parts
    assert len(res.done) == 4
    assert len(parts(out, "calls")) == len(parts(out, "segments")) == 4
    check_matches_jsons(out)
    # the analysis found the angry client: the rows say so
    con = open_dataset(out)
    angry = con.sql("SELECT DISTINCT call_id FROM segments WHERE role = 'client' AND emotion = 'angry'").fetchall()
    assert sorted(r[0] for r in angry) == ["call1"]
    con.close()

    # a run killed after writing call2's dataset part but before its JSON: the resume redoes it
    (out / "call2.json").unlink()
    again = analyze_batch([tmp_path / "in"], out, model=model_dir, **FAST)
    assert [Path(f).name for f in again.done] == ["call2.wav"] and len(again.skipped) == 3
    # a finished call whose part was lost is redone, once
    for p in (out / "dataset").rglob(part_name("call3")):
        p.unlink()
    again = analyze_batch([tmp_path / "in"], out, model=model_dir, **FAST)
    assert [Path(f).name for f in again.done] == ["call3.wav"] and again.reasons == {"outputs missing": 1}
    forced = analyze_batch([tmp_path / "in"], out, model=model_dir, force=True, **FAST)
    assert len(forced.done) == 4
    assert len(parts(out, "calls")) == len(parts(out, "segments")) == 4
    check_matches_jsons(out)
    assert not list(out.rglob(".tmp-*"))


def test_no_dataset_then_rebuilt_from_the_jsons_and_the_date_of_the_recording(tmp_path, model_dir):
    files = make_calls(tmp_path / "in", 2)
    stamp = dt.datetime(2023, 3, 14, 23, 30, tzinfo=dt.UTC).timestamp()
    os.utime(files[0], (stamp, stamp))
    out = tmp_path / "out"
    analyze_batch([tmp_path / "in"], out, model=model_dir, dataset=False, **FAST)
    assert not (out / "dataset").exists()
    # the parts written from the finished JSONs: a batch with the dataset then has nothing to redo
    assert rebuild_dataset(out) == 2
    check_matches_jsons(out)
    assert (out / "dataset" / "calls" / "date=2023-03-14" / part_name("call0")).is_file()  # the file's UTC date
    today = dt.datetime.fromtimestamp(files[1].stat().st_mtime, dt.UTC).strftime("%Y-%m-%d")
    assert (out / "dataset" / "segments" / f"date={today}" / part_name("call1")).is_file()
    assert len(analyze_batch([tmp_path / "in"], out, model=model_dir, **FAST).skipped) == 2
    # a part lost: that call is redone
    (out / "dataset" / "segments" / f"date={today}" / part_name("call1")).unlink()
    res = analyze_batch([tmp_path / "in"], out, model=model_dir, **FAST)
    assert res.reasons == {"outputs missing": 1} and [Path(f).name for f in res.done] == ["call1.wav"]
    check_matches_jsons(out)


def test_a_list_of_calls_carries_its_metadata(tmp_path, model_dir):
    make_calls(tmp_path / "in", 3)
    lst = tmp_path / "in" / "calls.csv"
    lst.write_text("path,date,queue,agent_id\n"
                   "call0.wav,2024-01-05,billing,7\n"
                   f"{tmp_path / 'in' / 'call1.wav'},2024-01-06T09:15:00,support,8\n"
                   "call2.wav,,billing,\n"
                   "missing.wav,2024-01-05,billing,9\n"
                   "call0.wav,not a day,x,1\n")
    out = tmp_path / "out"
    res = analyze_batch([lst], out, model=model_dir, **FAST)
    assert sorted(Path(f).name for f in res.done) == ["call0.wav", "call1.wav", "call2.wav"]
    errs = (out / "errors.csv").read_text()
    assert f"{lst}, row 5" in errs and "not found" in errs
    assert f"{lst}, row 6" in errs and "not a date" in errs
    assert json.loads((out / "call0.json").read_text())["meta"] == {"date": "2024-01-05", "queue": "billing",
                                                                    "agent_id": "7"}
    con = open_dataset(out)
    got = con.sql("SELECT call_id, strftime(date, '%Y-%m-%d'), queue, agent_id FROM calls ORDER BY call_id").fetchall()
    today = dt.datetime.fromtimestamp((tmp_path / "in" / "call2.wav").stat().st_mtime, dt.UTC).strftime("%Y-%m-%d")
    assert got == [("call0", "2024-01-05", "billing", "7"), ("call1", "2024-01-06", "support", "8"),
                   ("call2", today, "billing", None)]
    by_queue = dict(con.sql("SELECT queue, count(*) FROM calls GROUP BY queue").fetchall())
    assert by_queue == {"billing": 2, "support": 1}
    con.close()
    # the list changes a call's date: that call is redone and moves, nothing is duplicated
    lst.write_text("path,date,queue,agent_id\ncall0.wav,2024-02-01,billing,7\n"
                   f"{tmp_path / 'in' / 'call1.wav'},2024-01-06T09:15:00,support,8\ncall2.wav,,billing,\n")
    res = analyze_batch([lst], out, model=model_dir, **FAST)
    assert res.reasons == {"metadata changed": 1} and len(res.skipped) == 2
    assert len(parts(out, "calls")) == len(parts(out, "segments")) == 3
    con = open_dataset(out)
    assert con.sql("SELECT strftime(date, '%Y-%m-%d') FROM calls WHERE call_id = 'call0'").fetchall() == \
        [("2024-02-01",)]
    con.close()


def test_bad_lists_are_clear_errors(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"0")
    lst = tmp_path / "list.csv"
    lst.write_text("file,queue\na.wav,x\n")
    with pytest.raises(BatchError, match=r"list\.csv: a list of calls needs a 'path' column \(columns: file, queue\)"):
        collect_inputs([lst])
    lst.write_text("path,queue\na.wav,x\n,y\n")
    got = collect_inputs([lst])
    assert [(j.rel, dict(j.meta)) for j in got.jobs] == [("a", {"queue": "x"})]
    assert got.problems == [(f"{lst}, row 3", f"{lst}, row 3: empty path")]


# -- several processes writing at once ------------------------------------------------------------
def test_concurrent_appends_from_processes(tmp_path, model_dir):
    make_calls(tmp_path / "in", 1)
    one = tmp_path / "one"
    analyze_batch([tmp_path / "in"], one, model=model_dir, dataset=False, **FAST)
    base = json.loads((one / "call0.json").read_text())
    docs = []
    for i in range(12):  # the analysed call under 12 names and dates
        d = copy.deepcopy(base)
        d["summary"]["client_trend"]["end_valence"] = round(-0.9 + 0.05 * i, 2)
        docs.append((str(tmp_path / "out"), f"q{i % 3}/call{i}", d, {"date": f"2024-05-{1 + i % 4:02d}",
                                                                    "queue": f"q{i % 3}"}))
    # three processes write every call four times over, in interleaved order: the same parts at once
    with mp.get_context("spawn").Pool(3) as pool:
        pool.starmap(append_call, docs * 4, chunksize=1)
    out = tmp_path / "out"
    assert len(parts(out, "calls")) == len(parts(out, "segments")) == 12
    assert not list(out.rglob(".tmp-*"))
    con = open_dataset(out)
    rows = con.sql("SELECT call_id, client_end_valence, queue FROM calls ORDER BY client_end_valence").fetchall()
    assert [r[0] for r in rows] == [f"q{i % 3}/call{i}" for i in range(12)]
    assert con.sql("SELECT count(*) FROM segments").fetchall() == [(12 * len(base["segments"]),)]
    per_day = dict(con.sql("SELECT strftime(date, '%d'), count(*) FROM calls GROUP BY ALL").fetchall())
    assert per_day == {"01": 3, "02": 3, "03": 3, "04": 3}
    con.close()


# -- compaction ----------------------------------------------------------------------------------
def snapshot(out: Path) -> tuple:
    """Both views, sorted, columns by name."""
    con = open_dataset(out)
    calls = con.sql("SELECT * FROM calls ORDER BY call_id").df()
    segs = con.sql("SELECT * FROM segments ORDER BY call_id, start").df()
    con.close()
    return calls[sorted(calls.columns)].reset_index(drop=True), segs[sorted(segs.columns)].reset_index(drop=True)


def files_of(out: Path, table: str, date: str) -> list[str]:
    return sorted(p.name for p in (out / "dataset" / table / f"date={date}").glob("*.parquet"))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, model_dir):
    """One analysed call's JSON document."""
    tmp = tmp_path_factory.mktemp("one")
    make_calls(tmp / "in", 1)
    analyze_batch([tmp / "in"], tmp / "out", model=model_dir, dataset=False, **FAST)
    return json.loads((tmp / "out" / "call0.json").read_text())


def write_calls(out: Path, base: dict, n: int, valence: float = 0.0) -> None:
    """``n`` calls over two dates, with a metadata column only some of them have (schemas differ)."""
    for i in range(n):
        d = copy.deepcopy(base)
        d["summary"]["client_trend"]["end_valence"] = round(valence + 0.01 * i, 2)
        d["segments"] = d["segments"][: 1 + i % 3]  # calls of different lengths
        meta = {"date": f"2024-05-0{1 + i % 2}"} | ({"queue": f"q{i % 3}"} if i % 4 else {})
        append_call(out, f"c{i}", d, meta)


def test_compaction_keeps_every_row_once_and_a_redo_still_replaces_the_call(tmp_path, analysed):
    out = tmp_path / "out"
    write_calls(out, analysed, 8)
    before = snapshot(out)
    assert len(before[0]) == 8 and len(before[1]) == sum(1 + i % 3 for i in range(8))
    assert compact_dataset(out) == {"2024-05-01": 4, "2024-05-02": 4}
    for t in ("calls", "segments"):  # one file per date and table, the parts gone
        for date in ("2024-05-01", "2024-05-02"):
            got = files_of(out, t, date)
            assert len(got) == 1 and got[0].startswith("compacted-"), got
    after = snapshot(out)
    pd_testing().assert_frame_equal(before[0], after[0])
    pd_testing().assert_frame_equal(before[1], after[1])
    con = open_dataset(out)
    assert con.sql("SELECT queue, count(*) FROM calls GROUP BY ALL ORDER BY 1 NULLS FIRST").fetchall() == \
        [(None, 2), ("q0", 2), ("q1", 2), ("q2", 2)]
    con.close()

    # a redo of c3 after compaction (new values, fewer segments): its new part wins, nothing doubles
    d = copy.deepcopy(analysed)
    d["summary"]["client_trend"]["end_valence"] = 0.99
    d["segments"] = d["segments"][:1]
    append_call(out, "c3", d, {"date": "2024-05-02", "queue": "vip"})
    con = open_dataset(out)
    assert con.sql("SELECT client_end_valence, queue FROM calls WHERE call_id = 'c3'").fetchall() == [(0.99, "vip")]
    assert con.sql("SELECT count(*) FROM calls").fetchall() == [(8,)]
    assert con.sql("SELECT count(*) FROM segments WHERE call_id = 'c3'").fetchall() == [(1,)]
    assert con.sql("SELECT count(*) FROM segments").fetchall() == [(len(before[1]) - (1 + 3 % 3) + 1,)]
    con.close()
    redone = snapshot(out)
    # compacting again folds the redo in: the same answers from one file
    assert compact_dataset(out, dates=["2024-05-02"]) == {"2024-05-02": 1}
    assert len(files_of(out, "calls", "2024-05-02")) == len(files_of(out, "segments", "2024-05-02")) == 1
    again = snapshot(out)
    pd_testing().assert_frame_equal(redone[0], again[0])
    pd_testing().assert_frame_equal(redone[1], again[1])
    # fewer parts than min_parts: left as they are
    write_calls(out, analysed, 1, valence=0.5)
    assert compact_dataset(out, min_parts=2) == {}
    assert part_name("c0") in files_of(out, "calls", "2024-05-01")


def pd_testing():
    import pandas.testing

    return pandas.testing


def test_a_crash_mid_compaction_or_two_compactions_at_once_duplicate_nothing(tmp_path, analysed, monkeypatch):
    out = tmp_path / "out"
    write_calls(out, analysed, 6)
    before = snapshot(out)
    real_unlink, removed = Path.unlink, []

    def crash_after_two(self, missing_ok=False):
        if len(removed) == 2:
            raise KeyboardInterrupt  # the process killed while removing the merged parts
        removed.append(self)
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        compact_dataset(out)
    monkeypatch.undo()
    # the compacted file of 2024-05-01's calls is written and 2 of its 3 parts are left beside it
    left = files_of(out, "calls", "2024-05-01")
    assert len(left) == 2 and sum(f.startswith("compacted-") for f in left) == 1
    mid = snapshot(out)
    pd_testing().assert_frame_equal(before[0], mid[0])
    pd_testing().assert_frame_equal(before[1], mid[1])
    # a second compacted file with the same rows (two compactions ran at once): still each call once
    first = out / "dataset" / "calls" / "date=2024-05-01" / next(f for f in left if f.startswith("compacted-"))
    (first.parent / "compacted-0000000000000000.parquet").write_bytes(first.read_bytes())
    pd_testing().assert_frame_equal(before[0], snapshot(out)[0])
    # the next compaction finishes the job: one file per date and table, the same rows
    compact_dataset(out)
    for t in ("calls", "segments"):
        for date in ("2024-05-01", "2024-05-02"):
            assert len(files_of(out, t, date)) == 1
    done = snapshot(out)
    pd_testing().assert_frame_equal(before[0], done[0])
    pd_testing().assert_frame_equal(before[1], done[1])


def test_batch_compacts_and_a_resume_after_compaction_redoes_nothing(tmp_path, model_dir, monkeypatch):
    monkeypatch.setattr(dataset, "COMPACT_MIN_PARTS", 3)
    make_calls(tmp_path / "in", 4)
    lst = tmp_path / "in" / "calls.csv"
    lst.write_text("path,date,queue\n" + "".join(f"call{i}.wav,2024-06-01,q{i}\n" for i in range(4)))
    out = tmp_path / "out"
    res = analyze_batch([lst], out, model=model_dir, **FAST)
    assert len(res.done) == 4
    assert len(files_of(out, "calls", "2024-06-01")) == len(files_of(out, "segments", "2024-06-01")) == 1
    check_matches_jsons(out)
    again = analyze_batch([lst], out, model=model_dir, **FAST)
    assert len(again.skipped) == 4 and not again.done
    # the list changes one call's queue: only that call is redone, and its new row replaces the old one
    lst.write_text("path,date,queue\n" + "".join(f"call{i}.wav,2024-06-01,{'vip' if i == 2 else f'q{i}'}\n"
                                                 for i in range(4)))
    res = analyze_batch([lst], out, model=model_dir, **FAST)
    assert res.reasons == {"metadata changed": 1} and [Path(f).name for f in res.done] == ["call2.wav"]
    check_matches_jsons(out)
    con = open_dataset(out)
    assert con.sql("SELECT call_id, queue FROM calls ORDER BY call_id").fetchall() == \
        [("call0", "q0"), ("call1", "q1"), ("call2", "vip"), ("call3", "q3")]
    con.close()
    # a compacted file lost: its calls are redone
    for f in (out / "dataset" / "calls").rglob("compacted-*.parquet"):
        f.unlink()
    res = analyze_batch([lst], out, model=model_dir, **FAST)
    assert res.reasons == {"outputs missing": 3} and len(res.done) == 3
    check_matches_jsons(out)


def test_query_compact_command(tmp_path, analysed):
    from typer.testing import CliRunner

    from callemo.cli import _load_commands, app

    _load_commands()
    out = tmp_path / "out"
    write_calls(out, analysed, 6)
    before = snapshot(out)
    r = CliRunner().invoke(app, ["query", str(out), "--compact", "--since", "2024-05-02"])
    assert r.exit_code == 0, r.output
    assert "compacted 3 call part(s) of 1 date(s)" in r.output
    assert len(files_of(out, "calls", "2024-05-02")) == 1 and len(files_of(out, "calls", "2024-05-01")) == 3
    r = CliRunner().invoke(app, ["query", str(out), "--compact", "SELECT count(*) AS n FROM calls", "--json"])
    assert r.exit_code == 0 and '"n":6' in r.output
    assert len(files_of(out, "calls", "2024-05-01")) == 1
    pd_testing().assert_frame_equal(before[0], snapshot(out)[0])
    r = CliRunner().invoke(app, ["query", str(out)])
    assert r.exit_code == 2 and "give a SQL query" in r.output
