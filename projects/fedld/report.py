"""Runs the FedLD reproduction sweep (resumable: one results JSON per run, skipped when present)
and writes the README table from projects/fedld/results/*.json.

    python -m projects.fedld.report --run   # configs/fedld/{mnist,femnist}.py: methods x settings x seeds
    python -m projects.fedld.report         # the table only

Runs go seed by seed (every setting and method of seed 0 first): seeds 0-1 of the main
comparison, then the MNIST ablations (seeds 0-1), then seed 2, so a sweep cut short still leaves
complete comparisons.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import sys

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
METHODS = ("fedavg", "fedprox", "fedld")
ABLATIONS = ("fedld-agg", "fedld-loss")  # MNIST only, after the main sweep
NAMES = {"fedavg": "FedAvg", "fedprox": "FedProx (mu 0.01)", "fedld": "FedLD (lambda_m 0.1)",
         "fedld-agg": "ablation: FedLD aggregation alone (lambda_m 0)",
         "fedld-loss": "ablation: margin loss alone (plain mean)"}
ALPHAS = (1.0, 0.5, 0.1)
SEEDS = (0, 1, 2)  # the ablations: seeds 0-1
# (config file, arg) per setting; the arg gets "_s<seed>"
SETTINGS = {**{f"mnist_a{a:g}": ("configs/fedld/mnist.py", f"a{a:g}") for a in ALPHAS},
            "femnist": ("configs/fedld/femnist.py", "")}
PAPER = ("the paper has no MNIST or FEMNIST numbers: it evaluates on retinal and chest X-ray "
         "classification at several heterogeneity levels and reports FedLD better and more stable than "
         "FedAvg / FedProx there (its tables' values were not available to us, so none are quoted)")


def run_names():
    mnist = [s for s in SETTINGS if s.startswith("mnist")]
    for methods, settings, seeds in ((METHODS, SETTINGS, SEEDS[:2]), (ABLATIONS, mnist, SEEDS[:2]),
                                     (METHODS, SETTINGS, SEEDS[2:])):
        for seed in seeds:
            for setting in settings:
                path, arg = SETTINGS[setting]
                for m in methods:
                    yield f"{setting}_{m}_s{seed}", path, "_".join(p for p in (m, arg, f"s{seed}") if p)


def _load_config(path, arg):
    import importlib.util

    spec = importlib.util.spec_from_file_location("cfg", os.path.join(REPO, path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config(arg)


def run_all():
    from lib.autotune import cpu_model
    from lib.metrics import read_jsonl
    from projects.fedld import train

    os.makedirs(RESULTS, exist_ok=True)
    for name, path, arg in run_names():
        out = os.path.join(RESULTS, f"{name}.json")
        if os.path.exists(out):
            continue
        cfg = _load_config(path, arg)
        wd = os.path.join(REPO, "runs", "fedld", name)
        os.makedirs(wd, exist_ok=True)
        if not os.path.exists(os.path.join(wd, "final_metrics.json")):
            train.train_and_evaluate(cfg, wd)
        with open(os.path.join(wd, "final_metrics.json")) as f:
            final = json.load(f)
        evals = [[r["step"], r["test_accuracy"]] for r in read_jsonl(os.path.join(wd, "metrics.jsonl"))
                 if "test_accuracy" in r]
        row = {"name": name, "config_file": path, "config_arg": arg, "config": cfg.to_dict(),
               "final": final, "evals": evals,
               "machine": f"{cpu_model()}, {os.cpu_count()} CPU cores (shared), {platform.machine()}",
               "load_avg_1m_at_end": os.getloadavg()[0]}
        with open(out + ".tmp", "w") as f:
            json.dump(row, f, indent=1, default=str)
        os.replace(out + ".tmp", out)
        print(f"{name}: test_accuracy={final['test_accuracy']:.4f} wall={final['wall_time_s']:.0f}s", flush=True)


def _ms(vals, scale=100.0, digits=1):
    a = np.asarray(vals, np.float64) * scale
    return f"{a.mean():.{digits}f} ± {a.std():.{digits}f}" if len(a) > 1 else f"{a.mean():.{digits}f}"


def table() -> str:
    rows_in = {}
    for path in sorted(glob.glob(os.path.join(RESULTS, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        setting, method = r["name"].rsplit("_", 2)[:2]
        rows_in.setdefault((setting, method), []).append(r)
    if not rows_in:
        return "(not run yet)"
    rows = []
    for setting in SETTINGS:
        best = {}
        for m in METHODS:
            runs = rows_in.get((setting, m))
            if runs:
                best[m] = np.mean([x["final"]["test_accuracy"] for x in runs])
        for m in METHODS + ABLATIONS:
            runs = rows_in.get((setting, m))
            if not runs:
                continue
            c = runs[0]["config"]
            win = int(c.get("stability_window", 10))
            last = [[a for _, a in x["evals"][-win:]] for x in runs]
            others = [v for k, v in best.items() if k in ("fedavg", "fedprox")]
            gap = f"{100 * (best[m] - max(others)):+.1f}" if m == "fedld" and others else ""
            skew = (f"Dirichlet {c['dirichlet_alpha']:g}" if c["dataset"] == "mnist"
                    else "writers (natural)")
            rows.append({
                "set": f"{c['dataset'].upper()}, {skew}", "m": NAMES[m],
                "final": _ms([x["final"]["test_accuracy"] for x in runs]),
                "lastmean": _ms([np.mean(v) for v in last]),
                "std": f"{100 * np.mean([np.std(v) for v in last]):.2f}",
                "min": f"{100 * np.mean([np.min(v) for v in last]):.1f}",
                "gap": gap, "paper": "not reported",
                "scale": (f"{c['num_clients']} clients (all per round), {c['total']} rounds x "
                          f"{c['local']['num_steps']} steps, MLP {'-'.join(str(h) for h in c['model']['hidden'])}"),
                "seeds": str(len(runs)),
                "wall": f"{np.mean([x['final']['wall_time_s'] for x in runs]):.0f} s",
                "cfg": f"`{runs[0]['config_file']}:{m}_…`"})
    cols = [("setting", "set"), ("method", "m"),
            ("final test acc % (mean ± std over seeds)", "final"),
            ("mean acc % over the last 10 evals", "lastmean"),
            ("stability: std of acc over the last 10 evals (points)", "std"),
            ("worst of the last 10 evals %", "min"),
            ("FedLD − best baseline, final (points)", "gap"), ("paper", "paper"),
            ("our scale", "scale"), ("seeds", "seeds"), ("wall / run", "wall"), ("config", "cfg")]
    any_row = next(iter(rows_in.values()))[0]
    load = [x.get("load_avg_1m_at_end") for v in rows_in.values() for x in v]
    note = (f"\n\nHardware: {any_row['machine']}; 1-minute load average at the end of the runs "
            f"{min(load):.1f}–{max(load):.1f}. Paper column: {PAPER}.")
    return report.markdown_table(rows, cols) + note


def main(argv):
    if "--run" in argv:
        run_all()
    text = table()
    report.replace_section(os.path.join(HERE, "README.md"), "results", text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
