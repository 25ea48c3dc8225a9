"""The annotation commands end to end: agreement, gold (+ ICC filter), harmonise -> a manifest that
`read_manifest` (and a model) accepts, context, select, and errors naming file and line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import callemo.cli.annotations  # noqa: F401  (registers `annotations` and `select` on the app)
from callemo.cli.app import app
from helpers.annotations import SR, annotated_pair, harmonic_voice, make_calls, write_darma

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "annotations"


def invoke(*args):
    res = runner.invoke(app, [str(a) for a in args])
    return res


def test_agreement_json_maps_file_dimension_measures(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(0, 30, 0.5)
    files = []
    for rec, agree in (("call01", 0.95), ("call02", 0.0)):
        for k, (v, a) in enumerate(annotated_pair(rng, len(t), agree)):
            files.append(write_darma(tmp_path / f"{rec}__ann{k + 1}.csv", t, v, a))
    res = invoke("annotations", "agreement", *files, "--json", tmp_path / "agr.json", "--csv", tmp_path / "agr.csv")
    assert res.exit_code == 0, res.output
    assert "ICC(3,1)" in res.output and "call01" in res.output
    js = json.loads((tmp_path / "agr.json").read_text())
    assert set(js) == {"call01", "call02"} and set(js["call01"]) == {"valence", "arousal"}
    assert {"icc", "pearson", "alpha"} <= set(js["call01"]["valence"])
    assert js["call01"]["valence"]["icc"] > 0.8 > js["call02"]["valence"]["icc"]
    assert len(pd.read_csv(tmp_path / "agr.csv")) == 4
    res = invoke("annotations", "agreement", *files, "--dimension", "arousal", "--json", tmp_path / "a2.json")
    assert res.exit_code == 0 and set(json.loads((tmp_path / "a2.json").read_text())["call01"]) == {"arousal"}


def test_malformed_file_exits_2_naming_file_and_line(tmp_path):
    p = tmp_path / "call01__ann1.csv"
    p.write_text("Second,X,Y\n0,100,200\n0.5,150,250\n1.0,abc,300\n")
    res = invoke("annotations", "agreement", p)
    assert res.exit_code == 2
    out = " ".join(res.output.split())  # rich may wrap the line
    assert "call01__ann1.csv, line 4" in out and "'abc' is not a number" in out
    res = invoke("annotations", "gold", p, "-o", tmp_path / "g.csv")
    assert res.exit_code == 2 and "line 4" in res.output


def test_categorical_agreement_and_context_on_the_examples(tmp_path):
    res = invoke("annotations", "agreement", EXAMPLES / "categorical.csv", "--json", tmp_path / "cat.json")
    assert res.exit_code == 0, res.output
    js = json.loads((tmp_path / "cat.json").read_text())
    assert {"raw_agreement", "cohen_kappa", "fleiss_kappa", "alpha"} <= set(js) and 0 < js["cohen_kappa"] < 1
    res = invoke("annotations", "context", EXAMPLES / "context.csv", "--out", tmp_path / "ctx")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "ctx" / "context_variables.png").is_file()
    assert (tmp_path / "ctx" / "context_gold.csv").is_file()
    # context columns into a harmonised manifest
    res = invoke("annotations", "harmonise", EXAMPLES / "categorical.csv", "-o", tmp_path / "m.csv",
                 "--merge", "annoyed=angry", "--context", EXAMPLES / "context.csv")
    assert res.exit_code == 0, res.output
    m = pd.read_csv(tmp_path / "m.csv")
    assert {"gender", "empathy", "engagement", "satisfaction", "urgency", "resolution"} <= set(m.columns)
    assert m["empathy"].between(0, 10).all() and set(m["emotion"]) >= {"angry", "neutral"}


def test_select_command(tmp_path):
    make_calls(tmp_path / "calls", n=2)
    res = invoke("select", tmp_path / "calls", "--top", "2", "--json", tmp_path / "top.json",
                 "--csv", tmp_path / "rank.csv", "--backend", "prosody")
    assert res.exit_code == 0, res.output
    top = json.loads((tmp_path / "top.json").read_text())
    assert [Path(r["path"]).name.startswith("emotional") for r in top] == [True, True]
    assert top[0]["rank"] == 1 and top[0]["score"] > top[1]["score"] > 0
    assert len(pd.read_csv(tmp_path / "rank.csv")) == 2
    res = invoke("select", tmp_path / "nowhere")
    assert res.exit_code == 2 and "no such file or folder" in " ".join(res.output.split())


def _write_calls_and_annotations(d: Path):
    """4 calls of 8 s; continuous traces by two annotators (call04: they disagree); categorical
    labels of four 2-s segments per call by two annotators."""
    import soundfile as sf

    rng = np.random.default_rng(5)
    (d / "calls").mkdir(parents=True)
    (d / "continuous").mkdir()
    rows = []
    for c in range(1, 5):
        name = f"call{c:02d}"
        parts = []
        for s in range(4):
            angry = (c + s) % 2 == 0
            parts.append(harmonic_voice(2.0, 220 if angry else 120, 4.0 if angry else 0.3, c * 10 + s))
            true = "angry" if angry else "neutral"
            for ann in ("ann1", "ann2"):
                lab = true
                if ann == "ann2" and s == 3:
                    lab = "annoyed" if angry else "neutral"  # merged into angry
                if ann == "ann2" and s == 1 and angry:
                    lab = "neutral"  # neutral vs emotional disagreement -> emotional (paper 001)
                rows.append([f"calls/{name}.wav", 2.0 * s, 2.0 * s + 2.0, ann, lab])
        sf.write(d / "calls" / f"{name}.wav", np.concatenate(parts), SR)
        t = np.arange(0, 8.01, 0.5)
        for k, (v, a) in enumerate(annotated_pair(rng, len(t), agree=0.0 if c == 4 else 0.95)):
            write_darma(d / "continuous" / f"{name}__ann{k + 1}.csv", t, v, a)
    with open(d / "categorical.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "start", "end", "annotator", "label"])
        w.writerows(rows)


def test_gold_icc_filter_and_harmonise_roundtrip_into_a_trainable_manifest(tmp_path):
    from callemo.train.manifest import read_manifest

    _write_calls_and_annotations(tmp_path)
    darma = sorted((tmp_path / "continuous").glob("*.csv"))
    res = invoke("annotations", "gold", *darma, "-o", tmp_path / "gold.csv", "--rate", 2, "--min-icc", 0.7,
                 "--json", tmp_path / "gold.json")
    assert res.exit_code == 0, res.output
    gold = pd.read_csv(tmp_path / "gold.csv")
    assert sorted(gold["file"].unique()) == ["call01", "call02", "call03"]  # call04 fails the ICC filter
    assert json.loads((tmp_path / "gold.json").read_text())["kept"] == ["call01", "call02", "call03"]
    np.testing.assert_allclose(np.diff(gold[gold.file == "call01"]["time"]), 0.5)

    res = invoke("annotations", "harmonise", tmp_path / "categorical.csv", "-o", tmp_path / "out" / "manifest.csv",
                 "--rule", "emotional-wins", "--merge", "annoyed=angry", "--min-count", 2,
                 "--gold", tmp_path / "gold.csv", "--json", tmp_path / "harm.json")
    assert res.exit_code == 0, res.output
    m = read_manifest(tmp_path / "out" / "manifest.csv")  # files exist, segments within bounds
    assert len(m) == 12 and set(m["emotion"]) == {"angry", "neutral"}
    assert not m["path"].str.contains("call04").any()
    assert m["valence"].between(-1, 1).all() and m["arousal"].notna().all()
    assert (m["speaker"].str.startswith("call")).all()
    # every segment's expected label survived the rules (neutral/angry disagreements -> angry)
    expected = {(f"call{c:02d}", 2.0 * s): ("angry" if (c + s) % 2 == 0 else "neutral")
                for c in range(1, 4) for s in range(4)}
    got = {(Path(p).stem, s): e for p, s, e in zip(m["path"], m["start"], m["emotion"])}
    assert got == expected

    # binary setting on the same annotations
    res = invoke("annotations", "harmonise", tmp_path / "categorical.csv", "-o", tmp_path / "out" / "binary.csv",
                 "--rule", "emotional-wins", "--binary")
    assert res.exit_code == 0, res.output
    assert set(read_manifest(tmp_path / "out" / "binary.csv")["emotion"]) == {"emotional", "neutral"}

    # `callemo train` accepts the manifest (a tiny configuration: prosody functionals, logistic regression)
    import callemo.cli.modelling  # noqa: F401  (registers `train`)

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("type: svm\nfeatures: [prosody]\nclassifier: {type: logreg}\ncache: false\n")
    res = invoke("train", tmp_path / "out" / "manifest.csv", "-o", tmp_path / "model", "--config", cfg)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "model" / "model.yaml").is_file()
