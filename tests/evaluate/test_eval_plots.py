"""Confusion-matrix PNG and CSV writers."""

from __future__ import annotations

import csv

from callemo.evaluate.metrics import classification_report
from callemo.evaluate.plots import confusion_csv, confusion_png, report_csv, write_outputs


def test_confusion_png_and_csv(tmp_path):
    cm = [[8, 2, 0], [1, 5, 4], [0, 0, 0]]  # an empty row must not break normalisation
    png = confusion_png(cm, ["neutral", "happy", "sad"], tmp_path / "cm.png", title="test")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    text = confusion_csv(cm, ["neutral", "happy", "sad"], tmp_path / "cm.csv").read_text()
    rows = list(csv.reader(text.splitlines()))
    assert rows == [["true", "neutral", "happy", "sad"], ["neutral", "8", "2", "0"], ["happy", "1", "5", "4"],
                    ["sad", "0", "0", "0"]]


def test_report_outputs(tmp_path):
    r = classification_report(["a", "a", "b", "b"], ["a", "b", "b", "b"], n_boot=50)
    paths = write_outputs(r, tmp_path / "eval")
    assert sorted(p.name for p in paths.values()) == ["eval_confusion.csv", "eval_confusion.png", "eval_report.csv"]
    rows = {row[0]: row for row in csv.reader(report_csv(r, tmp_path / "r.csv").read_text().splitlines())}
    assert float(rows["ua"][1]) == 0.75 and float(rows["wa"][1]) == 0.75  # recall a = 1/2, b = 1
    assert float(rows["recall_a"][1]) == 0.5 and rows["recall_a"][4] == "2"
