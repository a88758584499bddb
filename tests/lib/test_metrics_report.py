import json

import pytest

from lib import metrics, report
from lib.data.common import DataError


def test_writer_drops_lines_after_resume_step(tmp_path):
    w = metrics.MetricWriter(str(tmp_path), tensorboard=False)
    for s in range(1, 8):
        w.write(s, {"loss": 1.0 / s})
    w.close()
    w = metrics.MetricWriter(str(tmp_path), resume_step=4, tensorboard=False)
    w.write(5, {"loss": 9.0})
    w.close()
    rows = metrics.read_jsonl(str(tmp_path / "metrics.jsonl"))
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5] and rows[-1]["loss"] == 9.0
    png = metrics.plot_curves({"run": str(tmp_path / "metrics.jsonl")}, ["loss"], str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").stat().st_size > 1000 and png.endswith("c.png")


def test_half_written_last_line_is_dropped_on_resume(tmp_path):
    """Issue 11 item 6: a run killed while writing metrics.jsonl left a workdir that could
    not be resumed (JSONDecodeError)."""
    w = metrics.MetricWriter(str(tmp_path), tensorboard=False)
    for s in range(1, 4):
        w.write(s, {"loss": float(s)})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "lo')
    w = metrics.MetricWriter(str(tmp_path), resume_step=3, tensorboard=False)
    w.write(4, {"loss": 4.0})
    assert [r["step"] for r in metrics.read_jsonl(str(tmp_path / "metrics.jsonl"))] == [1, 2, 3, 4]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[-1]) == {"step": 4, "loss": 4.0}


def test_a_broken_line_inside_the_file_is_named(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(DataError, match="metrics.jsonl: line 2 is not a metrics row"):
        metrics.read_jsonl(str(tmp_path / "metrics.jsonl"))


def test_tables_and_readme_sections(tmp_path):
    rows = [{"opt": "lamb", "bs": 512, "final": {"acc": 0.97}}, {"opt": "sgd", "bs": 512, "final": {"acc": 0.9}},
            {"opt": "lamb", "bs": 4096, "final": {"acc": 0.96}}]
    t = report.pivot(rows, "opt", "bs", lambda r: f"{r['final']['acc']:.2f}")
    assert t.splitlines()[0] == "| opt | 512 | 4096 |"
    assert "| sgd | 0.90 | – |" in t
    md = report.markdown_table(rows, [("opt", "opt"), ("acc", "final.acc")], {"final.acc": ".3f"})
    assert "| lamb | 0.970 |" in md
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- BEGIN results -->\nold\n<!-- END results -->\nb\n")
    report.replace_section(str(readme), "results", t)
    text = readme.read_text()
    assert "old" not in text and "| sgd | 0.90 | – |" in text and text.endswith("b\n")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x.json").write_text(json.dumps(rows[0]))
    assert report.load_results(str(tmp_path / "r"))[0]["opt"] == "lamb"
