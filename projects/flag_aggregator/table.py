"""Runs the robustness grid (rule x attack x Byzantine fraction) in one process and writes
one small JSON per cell to --results; `--report` regenerates the README table from them.

    python -m projects.flag_aggregator.table --config configs/flag_aggregator/mnist.py \\
        --workdir runs/flag_mnist --results projects/flag_aggregator/results/mnist \\
        --rules median,flag --attacks sign_flip,alie --fractions 0,0.2 [--set total=20]
    python -m projects.flag_aggregator.table --report

A cell whose JSON exists is skipped; an interrupted cell resumes from its workdir checkpoint.
A cell the rule cannot run (e.g. Bulyan with n < 4f + 3) is recorded as not applicable.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import time

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results"


def load_config(path: str, sets: list[str]):
    spec = importlib.util.spec_from_file_location("cfg", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config()
    for s in sets:
        k, _, v = s.partition("=")
        cur = c
        *parts, last = k.split(".")
        for p in parts:
            cur = cur[p]
        cur[last] = type(cur[last])(v) if cur[last] is not None else v
    return c


def run_grid(a):
    from lib.fl import aggregate
    from projects.flag_aggregator import train

    out = pathlib.Path(a.results)
    out.mkdir(parents=True, exist_ok=True)
    for frac in map(float, a.fractions.split(",")):
        for attack in (a.attacks.split(",") if frac > 0 else ["none"]):
            for rule in a.rules.split(","):
                name = f"{rule}_{attack}_{frac:g}"
                dst = out / f"{name}.json"
                if dst.exists():
                    continue
                c = load_config(a.config, a.set)
                c.aggregator, c.attack, c.byzantine_fraction = rule, attack, frac
                # Flag with a 2-dim subspace; trimmed mean trims at least the Byzantine share
                c.rule_params = ({"m": 2} if rule == "flag" else
                                 {"beta": max(0.1, frac)} if rule == "trimmed_mean" else {})
                row = {"rule": rule, "attack": attack, "byzantine_fraction": frac, "dataset": c.dataset,
                       "num_clients": c.num_clients, "clients_per_round": c.clients_per_round,
                       "rounds": c.total, "config": a.config, "overrides": a.set}
                t = time.time()
                try:
                    train.validate(c)
                except aggregate.AggregatorConfigError as e:
                    row.update(status="not applicable", reason=str(e))
                else:
                    try:
                        final = train.train_and_evaluate(c, str(pathlib.Path(a.workdir) / name))
                        row.update(status="ok", **{k: final[k] for k in ("test_accuracy", "test_loss", "step")})
                    except FloatingPointError as e:  # fedavg stopped on a non-finite update
                        row.update(status="diverged", reason=str(e))
                row["wall_time_s"] = round(time.time() - t, 1)
                dst.write_text(json.dumps(row, indent=1))
                print(name, row.get("test_accuracy", row["status"]), flush=True)


def report(results: pathlib.Path = RESULTS) -> str:
    """Markdown tables (one per data set): rows rule, columns attack @ fraction."""
    rows = [json.loads(p.read_text()) for p in sorted(results.rglob("*.json"))]
    md = []
    for ds in sorted({r["dataset"] for r in rows}):
        rs = [r for r in rows if r["dataset"] == ds]
        cols = sorted({(r["byzantine_fraction"], r["attack"]) for r in rs})
        rules = sorted({r["rule"] for r in rs})
        ex = rs[0]
        md += [f"### {ds}: final test accuracy ({ex['num_clients']} clients, {ex['clients_per_round']} per round, "
               f"{ex['rounds']} rounds; config {ex['config']} {' '.join(ex['overrides'])})", "",
               "| rule | " + " | ".join(f"{a} {f:.0%}" for f, a in cols) + " |",
               "|---|" + "---|" * len(cols)]
        for rule in rules:
            cells = []
            for f, a in cols:
                hit = [r for r in rs if r["rule"] == rule and r["attack"] == a and r["byzantine_fraction"] == f]
                if not hit:
                    cells.append("not run")
                elif hit[0]["status"] == "ok":
                    cells.append(f"{hit[0]['test_accuracy']:.3f}")
                else:
                    cells.append(hit[0]["status"])
            md.append(f"| {rule} | " + " | ".join(cells) + " |")
        md.append("")
    return "\n".join(md)


def write_readme_table():
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- table:start -->", "<!-- table:end -->"
    i, j = text.index(start) + len(start), text.index(end)
    readme.write_text(text[:i] + "\n" + report() + "\n" + text[j:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config")
    ap.add_argument("--workdir")
    ap.add_argument("--results")
    ap.add_argument("--rules", default="fedavg,median,trimmed_mean,krum,multi_krum,bulyan,geometric_median,"
                                       "centered_clipping,flag")
    ap.add_argument("--attacks", default="sign_flip,gaussian,alie,ipm,label_flip")
    ap.add_argument("--fractions", default="0,0.1,0.2,0.3")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    if not a.report:
        run_grid(a)
    write_readme_table()


if __name__ == "__main__":
    main()
