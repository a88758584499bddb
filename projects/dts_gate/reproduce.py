"""Runs gate = dts, switch, top2 on configs/dts_gate/shakespeare.py, writes results/dts_gate.json and the README table.

python -m projects.dts_gate.reproduce [--report-only]
Claim checked: steps for DTS-Gate to reach Switch's final validation loss (paper: 2.0x fewer).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform

import jax

from lib import report
from lib.moe import lm
from projects.dts_gate import train

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "dts_gate.json")
GATES = ("dts", "switch", "top2")


def load_config(path, arg):
    spec = importlib.util.spec_from_file_location("cfg", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config(arg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/dts_gate/shakespeare.py")
    ap.add_argument("--root", default="runs/dts_gate")
    ap.add_argument("--report-only", action="store_true")
    a = ap.parse_args()
    if a.report_only:
        res = json.load(open(RESULTS))
    else:
        runs = {}
        for g in GATES:
            cfg = load_config(a.config, f"gate={g}")
            wd = os.path.join(a.root, g)
            os.makedirs(wd, exist_ok=True)
            if not os.path.exists(os.path.join(wd, "final_metrics.json")):
                train.train_and_evaluate(cfg, wd)
            runs[g] = {**lm.collect_run(wd), "config": cfg.to_dict()}
        res = {"config": a.config, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
               "device_kind": jax.devices()[0].device_kind, "runs": runs}
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        json.dump(res, open(RESULTS, "w"), indent=1, default=str)
    target = res["runs"]["switch"]["final"]["val_bits_per_char"]
    switch_steps = res["runs"]["switch"]["final"]["step"]
    rows = []
    for g, r in res["runs"].items():
        reach = lm.steps_to_reach(r["curves"]["val_bits_per_char"], target)
        rows.append({"gate": g, "val_bpc": r["final"]["val_bits_per_char"], "reach": reach,
                     "speedup": (switch_steps / reach) if reach else None, "wall": r["final"]["wall_time_s"],
                     "tokens_per_s": r["curves"]["examples_per_sec"][-1][1]})
    table = report.markdown_table(rows, [
        ("gate", "gate"), ("final val bits/char", "val_bpc"),
        ("steps to Switch's final val bits/char (eval every 25)", "reach"),
        ("speed-up vs Switch (paper: 2.0x)", "speedup"), ("tokens/s (last log)", "tokens_per_s"), ("wall s", "wall")],
        formats={"val_bpc": ".3f", "speedup": ".2f", "wall": ".0f", "tokens_per_s": ".0f"})
    series = {g: tuple(zip(*r["curves"]["val_bits_per_char"])) for g, r in res["runs"].items()}
    report.line_plot(series, os.path.join(HERE, "results", "val_bpc.png"), xlabel="step", ylabel="val bits/char")
    report.replace_section(os.path.join(HERE, "README.md"), "results",
                           f"Config `{res['config']}`, {res['machine']}.\n\n{table}\n\n![val](results/val_bpc.png)")


if __name__ == "__main__":
    main()
