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


def test_run_sweep_collects_named_runs_and_skips_finished(tmp_path):
    """lib.report.run_sweep: one workdir per name, a results JSON with final metrics, curves and the
    config; finished runs are not run again."""
    cfg = tmp_path / "cfg.py"
    cfg.write_text("from ml_collections import ConfigDict\n"
                   "def get_config(arg=None):\n    return ConfigDict({'gate': arg.split('=')[1]})\n")
    calls = []

    def train_fn(config, workdir):
        calls.append(config.gate)
        with open(f"{workdir}/metrics.jsonl", "w") as f:
            for step, v in ((10, 3.0), (20, 2.0)):
                f.write(json.dumps({"step": step, "val_bits_per_char": v + (config.gate == "b")}) + "\n")
        with open(f"{workdir}/final_metrics.json", "w") as f:
            json.dump({"step": 20, "val_bits_per_char": 2.0 + (config.gate == "b")}, f)

    out = tmp_path / "results" / "r.json"
    res = report.run_sweep(str(cfg), {"a": "gate=a", "b": "gate=b"}, str(tmp_path / "runs"), str(out), train_fn)
    assert calls == ["a", "b"] and json.load(open(out)) == json.loads(json.dumps(res))
    assert res["runs"]["b"]["curves"]["val_bits_per_char"] == [[10, 4.0], [20, 3.0]]
    assert res["runs"]["a"]["config"] == {"gate": "a"} and res["runs"]["a"]["final"]["step"] == 20
    assert report.steps_to_reach(res["runs"]["b"]["curves"]["val_bits_per_char"], 3.0) == 20
    assert report.steps_to_reach(res["runs"]["b"]["curves"]["val_bits_per_char"], 2.0) is None
    report.run_sweep(str(cfg), {"a": "gate=a"}, str(tmp_path / "runs"), str(out), train_fn)
    assert calls == ["a", "b"]  # finished: not run again
    assert set(json.load(open(out))["runs"]) == {"a", "b"}  # earlier runs kept
