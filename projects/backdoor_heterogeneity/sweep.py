"""The study's runs: name -> (config file argument, overrides of configs/backdoor_heterogeneity/
<dataset>.py). Each run trains in its own workdir (an interrupted run resumes from its
checkpoint), and a finished run writes results/<dataset>/<name>.json (config, final metrics,
ASR and accuracy curves, machine); a run whose JSON exists is skipped, so the sweep resumes.

    python -m projects.backdoor_heterogeneity.sweep --dataset mnist --workdir runs/bd_sweep [--only a,b]
    python -m projects.backdoor_heterogeneity.report   # README tables and plot from the JSONs
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
ALPHAS = ("0.05", "0.1", "0.5", "1.0", "10.0", "iid")
RULES = {"median": {}, "trimmed_mean": {"beta": 0.2}, "krum": {}, "multi_krum": {}, "bulyan": {},
         "geometric_median": {}, "centered_clipping": {"tau": "median"}}


def runs(dataset: str) -> dict[str, tuple[str | None, dict]]:
    out: dict[str, tuple[str | None, dict]] = {}
    if dataset == "mnist":
        for seed in (0, 1):
            for a in ALPHAS:  # 1. heterogeneity: plain data poisoning, every round, FedAvg
                out[f"hetero_a{a}_s{seed}"] = (a, {"seed": seed})
                out[f"hetero_clean_a{a}_s{seed}"] = (a, {"seed": seed, "byzantine_fraction": 0.0})
        for a in ("0.1", "iid"):
            # 2. timing: only early (rounds 0-14) or only late (rounds 25-39) rounds
            out[f"timing_early_a{a}"] = (a, {"backdoor.end_round": 15})
            out[f"timing_late_a{a}"] = (a, {"backdoor.start_round": 25})
            # 3. attacker data distribution: an IID sample instead of its own shard
            out[f"data_iid_a{a}"] = (a, {"attacker_data": "iid"})
            for key, ov in (("timing_early", {"backdoor.end_round": 15}), ("timing_late", {"backdoor.start_round": 25}),
                            ("data_iid", {"attacker_data": "iid"})):  # a second seed for 2. and 3.
                out[f"{key}_a{a}_s1"] = (a, {**ov, "seed": 1})
            # 4. model replacement (boost n / eta) and its disguise (norm-constrained)
            out[f"replace_a{a}"] = (a, {"backdoor.boost": 0.0, "backdoor.start_round": 30})
            for rule, rp in RULES.items():  # 5. robust rules, plain poisoning
                out[f"rule_{rule}_a{a}"] = (a, {"aggregator": rule, "rule_params": rp})
            for rule in ("krum", "multi_krum", "centered_clipping"):  # 6. boosted vs disguised under rules
                out[f"boost_{rule}_a{a}"] = (a, {"aggregator": rule, "rule_params": RULES[rule],
                                                 "backdoor.boost": 5.0})
                out[f"disguise_{rule}_a{a}"] = (a, {"aggregator": rule, "rule_params": RULES[rule],
                                                    "backdoor.boost": 5.0, "backdoor.disguise_norm": 1.0})
    else:
        out["femnist_fedavg"] = (None, {})
        out["femnist_clean"] = (None, {"byzantine_fraction": 0.0})
        out["femnist_data_iid"] = (None, {"attacker_data": "iid"})
        for rule in ("median", "trimmed_mean", "multi_krum"):
            out[f"femnist_rule_{rule}"] = (None, {"aggregator": rule, "rule_params": RULES[rule]})
    return out


def make_config(dataset: str, arg, overrides: dict):
    from ml_collections import ConfigDict

    c = importlib.import_module(f"configs.backdoor_heterogeneity.{dataset}").get_config(arg)
    for k, v in overrides.items():
        node, *path = k.split(".")
        if path:
            c[node][path[0]] = v
        else:
            c[k] = ConfigDict(v, type_safe=False) if isinstance(v, dict) else v
    if c.get("data_dir") is None:
        c.data_dir = os.environ.get("TESSERA_DATA_DIR")
    return c


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="mnist", choices=("mnist", "femnist"))
    ap.add_argument("--workdir", default="runs/backdoor_sweep")
    ap.add_argument("--only", default="", help="comma-separated name prefixes")
    args = ap.parse_args(argv)
    from projects.backdoor_heterogeneity import train

    outdir = os.path.join(HERE, "results", args.dataset)
    os.makedirs(outdir, exist_ok=True)
    prefixes = [p for p in args.only.split(",") if p]
    for name, (arg, ov) in runs(args.dataset).items():
        path = os.path.join(outdir, name + ".json")
        if os.path.exists(path) or (prefixes and not any(name.startswith(p) for p in prefixes)):
            continue
        cfg = make_config(args.dataset, arg, ov)
        wd = os.path.join(args.workdir, args.dataset, name)
        t0 = time.time()
        final = train.train_and_evaluate(cfg, wd)
        curves = report.collect_run(wd, ("backdoor_asr", "test_accuracy"))["curves"]
        row = {"name": name, "arg": arg, "overrides": ov, "config": cfg.to_dict(), "final": final,
               "curves": curves, "wall_s": round(time.time() - t0, 1),
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared)",
               "load_avg_1m": os.getloadavg()[0]}
        with open(path, "w") as f:
            json.dump(row, f, indent=1, default=str)
        print(f"{name}: asr={final['backdoor_asr']:.3f} acc={final['test_accuracy']:.3f} ({row['wall_s']} s)",
              flush=True)


if __name__ == "__main__":
    main()
