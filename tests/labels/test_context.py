"""Context annotations: schema validation with file/line/field errors, correlation report + heatmaps."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy.stats import pearsonr

from callemo.labels.context import (
    ContextAnnotation,
    context_gold,
    context_report,
    purpose_category,
    read_context,
    variable_table,
)
from callemo.labels.continuous import AnnotationError

HEADER = ["file", "annotator", "role", "gender", "empathy", "engagement", "satisfaction", "urgency", "purpose",
          "resolution"]


def _write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _dataset(path, n=14, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        emp, eng_a = rng.uniform(1, 9), rng.uniform(3, 9)
        for ann in ("A", "B"):
            def v(m):
                return int(round(float(np.clip(m + rng.normal(0, 0.5), 0, 10))))

            rows.append([f"call{i}", ann, "client", "F", v(emp), v(5), v(0.8 * emp + 1), v(4),
                         "asking for information", "resolved"])
            rows.append([f"call{i}", ann, "agent", "male", v(eng_a), v(eng_a), "", "", "", ""])
    return _write(path, rows)


def test_schema_normalises_and_validates():
    a = ContextAnnotation(file="c1", role="Customer", gender="F", empathy="7", resolution="Client action",
                          purpose="Reporting an issue with a booking")
    assert (a.role, a.gender, a.empathy, a.resolution, a.annotator) == ("client", "female", 7.0, "partial", "1")
    assert a.purpose_category == "issue"
    assert purpose_category("purchase") == "purchase" and purpose_category("weather chat") == "other"
    assert purpose_category("") is None
    with pytest.raises(ValueError):
        ContextAnnotation(file="c1", role="boss")
    with pytest.raises(ValueError):
        ContextAnnotation(file="c1", role="agent", urgency=11)


@pytest.mark.parametrize("row, fieldname, words", [
    (["c2", "A", "client", "female", "11", "", "", "", "", ""], "empathy", "outside the 0-10 scale"),
    (["c2", "A", "client", "female", "x", "", "", "", "", ""], "empathy", "not a number"),
    (["c2", "A", "", "female", "", "", "", "", "", ""], "role", "missing"),
    (["c2", "A", "client", "robot", "", "", "", "", "", ""], "gender", "not a gender"),
    (["c2", "A", "client", "", "", "", "", "", "", "maybe"], "resolution", "not a resolution"),
    (["", "A", "client", "", "", "", "", "", "", ""], "file", "must not be empty"),
])
def test_errors_name_file_line_and_field(tmp_path, row, fieldname, words):
    p = _write(tmp_path / "ctx.csv", [["c1", "A", "client", "female", "5", "5", "5", "5", "purchase", "resolved"], row])
    with pytest.raises(AnnotationError) as ei:
        read_context(p)
    msg = str(ei.value)
    assert str(p) in msg and "line 3" in msg and f"field '{fieldname}'" in msg and words in msg


def test_duplicate_and_missing_column(tmp_path):
    p = _write(tmp_path / "dup.csv", [["c1", "A", "client"] + [""] * 7, ["c1", "A", "customer"] + [""] * 7])
    with pytest.raises(AnnotationError, match=r"line 3.*twice"):
        read_context(p)
    (tmp_path / "norole.csv").write_text("file,annotator\nc1,A\n")
    with pytest.raises(AnnotationError, match=r"line 1.*missing column 'role'"):
        read_context(tmp_path / "norole.csv")


def test_report_tables_heatmaps_and_gold(tmp_path):
    df = read_context(_dataset(tmp_path / "ctx.csv"))
    assert len(df) == 56 and set(df["gender"]) == {"female", "male"}
    rep = context_report(df, tmp_path / "out")
    # between annotators: the same variable by A and B across calls, checked against scipy
    row = rep["annotators"].set_index("variable").loc["empathy_client"]
    sub = df[df.role == "client"].pivot(index="file", columns="annotator", values="empathy")
    r, p = pearsonr(sub["A"], sub["B"])
    assert row["r"] == pytest.approx(r) and row["p"] == pytest.approx(p) and row["r"] > 0.8
    # between variables (mean of annotators)
    vt = variable_table(df)
    r2, p2 = pearsonr(vt["empathy_client"], vt["satisfaction_client"])
    v = rep["variables"]
    hit = v[(v.a == "empathy_client") & (v.b == "satisfaction_client")].iloc[0]
    assert hit["r"] == pytest.approx(r2) and hit["p"] == pytest.approx(p2) and hit["p"] < 0.01
    assert rep["variables_r"].shape[0] == rep["variables_r"].shape[1] == 6  # 4 client + 2 agent variables
    assert rep["by_annotator_r"].shape[0] == 12
    for name in ("context_variables.csv", "context_annotators.csv", "context_variables.png", "context_annotators.png"):
        f = tmp_path / "out" / name
        assert f.is_file() and f.stat().st_size > 100
    assert (tmp_path / "out" / "context_variables.png").read_bytes()[:4] == b"\x89PNG"
    g = context_gold(df)
    assert len(g) == 28
    one = g[(g.file == "call0") & (g.role == "client")].iloc[0]
    assert one["empathy"] == pytest.approx(df[(df.file == "call0") & (df.role == "client")]["empathy"].mean())
    assert one["purpose_category"] == "information"


def test_attach_context_to_items(tmp_path):
    import pandas as pd

    from callemo.labels.context import attach_context

    df = read_context(_dataset(tmp_path / "ctx.csv", n=3))
    items = pd.DataFrame({"path": ["/a/calls/call0.wav", "/a/calls/call0.wav", "/a/calls/zzz.wav"],
                          "role": ["client", "agent", "client"], "gender": ["", "m", None]})
    out = attach_context(items, df)
    gold = context_gold(df).set_index(["file", "role"])
    assert out["empathy"].iloc[0] == pytest.approx(gold.loc[("call0", "client"), "empathy"])
    assert out["empathy"].iloc[1] == pytest.approx(gold.loc[("call0", "agent"), "empathy"])
    assert out["gender"].tolist()[:2] == ["female", "m"]  # filled where empty, kept where given
    # call-level context comes from the client, for every interlocutor
    assert out["satisfaction"].iloc[1] == pytest.approx(gold.loc[("call0", "client"), "satisfaction"])
    assert out["purpose_category"].iloc[1] == "information"
    assert pd.isna(out["empathy"].iloc[2]) and pd.isna(out["resolution"].iloc[2])
    no_role = attach_context(items.drop(columns="role"), df)
    assert "empathy" not in no_role.columns and no_role["resolution"].iloc[0] == "resolved"
