"""`callemo query` and `callemo report` on the output of a real 48-call batch (short generated calls
over six days and two queues, a list CSV giving their dates and queues): the documented queries
give what the calls' JSONs say, errors are one line with exit code 2, and the archive page is
self-contained, links every listed call to its report and renders in headless Chromium (figures
decoded, transcript search working)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from callemo.analyze.batch import analyze_batch
from callemo.analyze.dataset import append_call
from callemo.cli import _load_commands, app
from callemo.io import save_audio
from helpers.browser import chromium
from helpers.calls import make_call, tm

pytest.importorskip("duckdb")
_load_commands()
runner = CliRunner()
N = 48
KINDS = ["neutral", "angry", "sad"]
SAID = "I want to cancel my contract right now"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """48 analysed calls (about 20 s on two cores), three of them with transcripts."""
    tmp = tmp_path_factory.mktemp("archive")
    rows = []
    for i in range(N):
        a_kind, b_kind = KINDS[i % 3], KINDS[(i // 3) % 3]
        turns = [(0.5, 3.5, "neutral", 0), (4.0, 7.0, a_kind, 1), (7.5, 9.5, "neutral", 0), (10.0, 13.0, b_kind, 1)]
        audio, sr = make_call(turns, 14, stereo=True, seed=i)
        (tmp / "in" / f"day{i % 6}").mkdir(parents=True, exist_ok=True)
        save_audio(tmp / "in" / f"day{i % 6}" / f"call{i:02d}.wav", audio, sr)
        rows.append({"path": f"day{i % 6}/call{i:02d}.wav", "date": f"2024-03-{4 + i % 6:02d}",
                     "queue": "billing" if i % 2 else "support"})
    pd.DataFrame(rows).to_csv(tmp / "in" / "calls.csv", index=False)
    model = tm.saved_model(tmp / "model")
    out = tmp / "out"
    res = analyze_batch([tmp / "in" / "calls.csv"], out, model=model, prepare=tm.simple_prepare, progress=False,
                        jobs=2, plot=False, audio="none")
    assert len(res.done) == N and not res.failed
    docs = {f.relative_to(out).as_posix()[:-5]: json.loads(f.read_text()) for f in out.glob("day*/*.json")}
    # three calls transcribed (as `--transcribe` writes them): text on every segment
    said = []
    for rel in ("day1/call01", "day2/call02", "day3/call09"):
        doc = docs[rel]
        first = next(g for g in doc["segments"] if g["role"] == "client")
        for g in doc["segments"]:
            g["text"] = SAID if g is first else "thank you for calling"
        if first["emotion"] == "angry":
            said.append(rel)
        append_call(out, rel, doc, doc["meta"])
    return {"out": out, "docs": docs, "tmp": tmp, "angry_cancel": sorted(said), "table": pd.DataFrame(rows)}


def query_json(out: Path, sql: str) -> list[dict]:
    r = invoke("query", out, sql, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_share_needing_review_per_day(batch):
    got = query_json(batch["out"], "SELECT strftime(date, '%Y-%m-%d') AS day, count(*) AS calls, "
                                   "avg(needs_review::INT) AS review_share FROM calls GROUP BY day ORDER BY day")
    truth = {}
    for doc in batch["docs"].values():
        truth.setdefault(doc["meta"]["date"], []).append(doc["summary"]["needs_review"])
    assert [g["day"] for g in got] == sorted(truth)
    for g in got:
        flags = truth[g["day"]]
        assert g["calls"] == len(flags) == 8 and g["review_share"] == pytest.approx(sum(flags) / len(flags))
    assert 0 < sum(sum(v) for v in truth.values()) < N  # some calls need review, some do not


def test_client_valence_by_queue(batch):
    got = query_json(batch["out"], "SELECT queue, avg(valence_client) AS v, count(*) AS n FROM calls GROUP BY queue "
                                   "ORDER BY queue")
    for g in got:
        vals = [d["summary"]["mean"]["client"]["valence"] for d in batch["docs"].values()
                if d["meta"]["queue"] == g["queue"] and d["summary"]["mean"]["client"]["valence"] is not None]
        assert g["n"] == N // 2 and g["v"] == pytest.approx(sum(vals) / len(vals))


def test_angry_client_said_cancel(batch):
    got = query_json(batch["out"], "SELECT DISTINCT call_id FROM segments WHERE text ILIKE '%cancel%' "
                                   "AND role = 'client' AND emotion = 'angry' ORDER BY call_id")
    assert [g["call_id"] for g in got] == batch["angry_cancel"] != []
    every = query_json(batch["out"], "SELECT count(DISTINCT call_id) AS n FROM segments WHERE text ILIKE '%cancel%'")
    assert every == [{"n": 3}]


def test_table_and_csv(batch, tmp_path):
    r = invoke("query", batch["out"], "SELECT call_id, queue, needs_review FROM calls ORDER BY call_id",
               "--max-rows", 5)
    assert r.exit_code == 0 and "day0/call00" in r.stdout and "day5/call47" not in r.stdout
    assert "48 row(s) (43 not shown" in r.stderr
    r = invoke("query", batch["out"], "SELECT * FROM calls", "--csv", tmp_path / "calls.csv")
    assert r.exit_code == 0
    t = pd.read_csv(tmp_path / "calls.csv")
    assert len(t) == N and t["call_id"].is_unique and {"queue", "client_trend", "date"} <= set(t.columns)


def test_since_and_until_open_only_those_days(batch):
    got = query_json(batch["out"], "SELECT count(*) AS n, min(date)::VARCHAR AS a, max(date)::VARCHAR AS b "
                                   "FROM calls")
    assert got == [{"n": 48, "a": "2024-03-04", "b": "2024-03-09"}]
    r = invoke("query", batch["out"], "SELECT count(*) AS n, min(date)::VARCHAR AS a FROM calls", "--json",
               "--since", "2024-03-05", "--until", "2024-03-06")
    assert r.exit_code == 0 and json.loads(r.stdout) == [{"n": 16, "a": "2024-03-05"}]
    r = invoke("query", batch["out"], "SELECT 1", "--since", "2025-01-01")
    assert r.exit_code == 2 and "no call in the results dataset from 2025-01-01" in r.stderr


def test_errors_are_one_line_with_exit_code_2(batch, tmp_path):
    r = invoke("query", tmp_path, "SELECT 1")
    assert r.exit_code == 2 and "no results dataset" in r.stderr and r.stderr.count("\n") == 1
    assert "Traceback" not in r.output
    r = invoke("query", batch["out"], "SELECT nope FROM calls")
    assert r.exit_code == 2 and r.stderr.count("\n") <= 2
    assert "bad query" in r.stderr and "nope" in r.stderr and "Traceback" not in r.output
    r = invoke("report", batch["out"], "-o", tmp_path / "x.html", "--where", "queue = ")
    assert r.exit_code == 2 and "bad --where" in r.stderr and not (tmp_path / "x.html").exists()


def test_archive_report_in_headless_chromium(batch, tmp_path):
    import subprocess

    page = tmp_path / "site" / "archive.html"
    r = invoke("report", batch["out"], "-o", page)
    assert r.exit_code == 0, r.output
    html = page.read_text()
    # self-contained: images are data URIs, links are relative paths to the calls' own reports
    for m in re.finditer(r'(?:src|href)="([^"]*)"', html):
        assert m.group(1).startswith("data:") or not re.match(r"[a-z]+:", m.group(1)), m.group(1)
    links = re.findall(r'href="([^"]+\.html)"', html)
    assert len(links) >= 25 and all((page.parent / h).resolve().is_file() for h in links)
    assert "strong anger from the client" in html

    exe = chromium()
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.resolve().as_uri() + "#q=cancel&role=client"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert 'data-calls="48"' in dom
    widths = [int(w) for w in re.findall(r'data-natural-width="(\d+)"', dom)]
    assert len(widths) == 5 and min(widths) > 300  # the five figures decoded
    worst = re.search(r'<table id="worst-table">.*?</table>', dom, re.S).group(0)
    assert worst.count("<tr>") == 1 + 25
    # the transcript search ran from the address (#q=cancel&role=client): the client segments saying it
    assert 'data-search-hits="3"' in dom and dom.count("<mark>cancel</mark>") == 3
