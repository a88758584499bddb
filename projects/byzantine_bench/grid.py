"""The robustness grid: configurations (rule behind defenses) x attack suite, one compile per
configuration, resumable per cell, and the worst-case table and plot.

A configuration's rounds run in one jitted `lax.fori_loop` over `lib.fl.engine.round_fn`
(same keys and streams as `train.train_and_evaluate`, no checkpoints inside a cell); the
update attack is a run-time `lax.switch` over the suite, so all attacks of a configuration
share one compile. Label flipping is the identity update attack on flipped labels. The
backdoor (targeted: its success is the attack success rate, not a lower accuracy) runs only
when asked for (`--attacks backdoor`), in a compile of its own (its attackers train inside
their local update); its cells report the ASR beside the accuracy. A
finished cell's JSON is skipped, so the grid resumes after an interruption; a configuration
the rule cannot run (e.g. Krum after bucketing) is recorded "not applicable" with the named
error.

    python -m projects.byzantine_bench.grid --config configs/byzantine_bench/mnist.py \\
        --results projects/byzantine_bench/results/mnist [--configs a,b] [--attacks a,b] [--limit N]
    python -m projects.byzantine_bench.grid --report projects/byzantine_bench/results/mnist
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib.util
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from ml_collections import ConfigDict

from lib.fl import aggregate, attacks, engine, runner, tasks
from projects.byzantine_bench import train

# the attack suite: label -> (lib.fl.attacks name, parameters); alie's n, f come from the config
SUITE = {
    "none": ("none", {}),
    "label_flip": ("label_flip", {}),
    "sign_flip": ("sign_flip", {"scale": 1.0}),
    "alie": ("alie", {}),
    "ipm_0.1": ("ipm", {"epsilon": 0.1}),
    "ipm_2": ("ipm", {"epsilon": 2.0}),
    "min_max_unit": ("min_max", {"perturbation": "unit"}),
    "min_max_std": ("min_max", {"perturbation": "std"}),
    "min_max_sign": ("min_max", {"perturbation": "sign"}),
    "min_sum_unit": ("min_sum", {"perturbation": "unit"}),
    "min_sum_std": ("min_sum", {"perturbation": "std"}),
    "min_sum_sign": ("min_sum", {"perturbation": "sign"}),
    "fang_krum": ("fang", {"rule": "krum"}),
    "fang_trim": ("fang", {"rule": "trimmed_mean"}),
    "mimic": ("mimic", {}),
    "agr_tailored_unit": ("agr_tailored", {"perturbation": "unit"}),  # attacks the configuration's own rule
    "backdoor": ("backdoor", {"target": 0}),
}
TARGETED = ("backdoor",)  # not in the worst case over attacks; run with --attacks backdoor
OPTIONAL = ("agr_tailored_unit",)  # in the worst case where run; run with --attacks agr_tailored_unit
UNTARGETED = tuple(lab for lab in SUITE if lab not in TARGETED)
DEFAULT = tuple(lab for lab in UNTARGETED if lab not in OPTIONAL)

# configurations: id -> (rule, rule params, defenses). Undefended rules, then the combinations
# the defense papers recommend: NNM before any robust rule (Allouah et al. 2023), bucketing s=2
# before CM / RFA / CClip (Karimireddy et al. 2022; Krum and Bulyan cannot take it at 20 % of 20:
# recorded not applicable), worker momentum with CClip (Karimireddy et al. 2021), DnC and FLTrust
# with the mean they were published with.
CONFIGS = {
    "fedavg": ("fedavg", {}, ""),
    "median": ("median", {}, ""),
    "trimmed_mean": ("trimmed_mean", {"beta": 0.2}, ""),
    "krum": ("krum", {}, ""),
    "multi_krum": ("multi_krum", {}, ""),
    "bulyan": ("bulyan", {}, ""),
    "geometric_median": ("geometric_median", {}, ""),
    "cclip": ("centered_clipping", {"tau": "median"}, ""),
    "nnm+median": ("median", {}, "nnm"),
    "nnm+trimmed_mean": ("trimmed_mean", {"beta": 0.2}, "nnm"),
    "nnm+krum": ("krum", {}, "nnm"),
    "nnm+multi_krum": ("multi_krum", {}, "nnm"),
    "nnm+geometric_median": ("geometric_median", {}, "nnm"),
    "nnm+cclip": ("centered_clipping", {"tau": "median"}, "nnm"),
    "bucketing+median": ("median", {}, "bucketing:s=2"),
    "bucketing+geometric_median": ("geometric_median", {}, "bucketing:s=2"),
    "bucketing+cclip": ("centered_clipping", {"tau": "median"}, "bucketing:s=2"),
    "bucketing+krum": ("krum", {}, "bucketing:s=2"),
    "momentum+cclip": ("centered_clipping", {"tau": "median"}, "momentum:beta=0.5"),
    "momentum+nnm+cclip": ("centered_clipping", {"tau": "median"}, "momentum:beta=0.5+nnm"),
    "momentum+bucketing+cclip": ("centered_clipping", {"tau": "median"}, "momentum:beta=0.5+bucketing:s=2"),
    "dnc": ("fedavg", {}, "dnc:c=1.0,iterations=1,sub_dim=10000"),
    "fltrust": ("fedavg", {}, "fltrust"),
    "nnm+bulyan": ("bulyan", {}, "nnm"),
}


def cell_config(base, config_id: str, attack_label: str, fraction: float):
    rule, rp, defenses = CONFIGS[config_id]
    name, ap = SUITE[attack_label]
    c = copy.deepcopy(base)
    c.aggregator, c.defenses = rule, defenses
    c.rule_params = ConfigDict(dict(rp), type_safe=False) if rp else ConfigDict(
        {}, type_safe=False)
    c.attack = name
    c.attack_params = ConfigDict(dict(ap), type_safe=False)
    c.byzantine_fraction = 0.0 if name == "none" else float(fraction)
    return _with_attacked_rule(c)


def _with_attacked_rule(c):
    """agr_tailored attacks the configuration's own rule with its f (the rule in the loop)."""
    if c.attack == "agr_tailored":
        c.attack_params.rule = c.aggregator
        c.attack_params.rule_params = dict(train.rule_params(c))
    return c


def switch_attack(labels, config):
    """One update attack choosing SUITE[labels[attack_id]] at run time (0: identity)."""
    branches = [lambda u, m, k, present=None: u]
    for lab in labels:
        name, _ = SUITE[lab]
        if name in ("none", "label_flip"):
            continue
        c = copy.deepcopy(config)
        c.attack, c.attack_params = name, ConfigDict(dict(SUITE[lab][1]), type_safe=False)
        kw = train.attack_params(_with_attacked_rule(c))
        if name == "alie":
            kw = {"z": attacks.alie_z(kw["n"], kw["f"])}
        branches.append(functools.partial(attacks.get_attack(name), **kw))

    def attack(updates, byz_mask, key, *, attack_id, present=None):
        return jax.lax.switch(attack_id, [functools.partial(b, updates, byz_mask, key, present=present)
                                          for b in branches])

    ids, i = {}, 1
    for lab in labels:
        if SUITE[lab][0] in ("none", "label_flip"):
            ids[lab] = 0
        else:
            ids[lab], i = i, i + 1
    return attack, ids


class Runner:
    """Loads the task once; `run_config(config_id, labels)` runs a configuration's cells."""

    def __init__(self, base, fraction: float):
        tasks.validate(base)
        self.base, self.fraction = base, fraction
        self.task = tasks.load_task(base)
        self.eval = tasks.make_eval(self.task, base.eval_batch_size)
        self._eval_backdoor = None
        self.compiles = 0

    def eval_backdoor(self, params):
        if self._eval_backdoor is None:  # the trigger needs image data: built on first use
            bd = train.backdoor_spec(cell_config(self.base, next(iter(CONFIGS)), "backdoor", self.fraction))
            self._eval_backdoor = tasks.make_eval(self.task, self.base.eval_batch_size, backdoor=bd)
        return self._eval_backdoor(params)

    def loop_for(self, config_id, labels):
        """The jitted run of a configuration: the untargeted attacks `labels` behind one switch,
        or labels == ["backdoor"] (its own local update)."""
        targeted = list(labels) == ["backdoor"]
        if not targeted and set(labels) & set(TARGETED):
            raise ValueError(f"run the targeted attacks {TARGETED} in their own loop")
        c = cell_config(self.base, config_id, "backdoor" if targeted else "alie", self.fraction)
        for lab in labels:  # named errors (rule, defenses, knowledge) before compile
            train.validate(cell_config(self.base, config_id, lab, self.fraction))
        byz = train.byzantine_mask(c)
        if targeted:
            sim, ids = train.build(c, self.task, byz)._replace(stop_on_nonfinite=False), {"backdoor": 0}
        else:
            attack, ids = switch_attack(labels, c)
            sim = train.build(c, self.task, byz, attack="sign_flip", attack_kw={})
            sim = sim._replace(attack=attack, stop_on_nonfinite=False)
        total = int(c.total)

        @functools.partial(engine.jit, sim)
        def loop(state, data, hp, byz, attack_id):
            ap = {} if targeted else {"attack_id": attack_id}
            one = engine.round_fn(sim._replace(byzantine=byz, attack_params=ap))

            def body(_, carry):
                st, first_bad = carry
                st, m = one(st, data, hp)
                hit = (first_bad < 0) & (m["first_nonfinite_client"] >= 0)
                return st, jnp.where(hit, m["round"], first_bad)

            st, first_bad = jax.lax.fori_loop(0, total, body, (state, jnp.int32(-1)))
            finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(l)) for l in jax.tree.leaves(st["params"])]))
            return st, first_bad, finite

        self.compiles += 1
        return sim, loop, ids, byz

    def run_cell(self, sim, loop, ids, byz, config_id, label) -> dict:
        c = cell_config(self.base, config_id, label, self.fraction)
        name = SUITE[label][0]
        data = self.task.data
        if name == "label_flip":
            data = train.flip_client_labels(data, byz, self.task.num_classes)
        upd_byz = byz if name not in ("none", "label_flip") else np.zeros_like(byz)
        state = engine.put_state(sim, engine.init(sim, self.task.params, seed=c.seed))
        st, first_bad, finite = loop(state, engine.put_data(sim, data), runner.hparams(c), jnp.asarray(upd_byz),
                                     jnp.int32(ids[label]))
        out = {"step": int(st["step"]), "byzantine_clients": int(byz.sum()) if name != "none" else 0}
        if not aggregate.is_robust(c.aggregator) and int(first_bad) >= 0:
            out.update(status="diverged", reason=f"round {int(first_bad)}: a non-finite client update")
        elif not bool(finite):
            out.update(status="diverged", reason="final parameters are not finite")
        else:
            out.update(status="ok", **(self.eval_backdoor if name == "backdoor" else self.eval)(st["params"]))
        return out


def _cell_path(results, config_id, label, fraction, seed):
    return os.path.join(results, config_id, f"{label}_{fraction:g}_s{seed}.json")


def _record(base, config_id, label, fraction, config_path, extra):
    rule, rp, defenses = CONFIGS[config_id]
    name, ap = SUITE[label]
    return {"config": config_id, "rule": rule, "rule_params": rp, "defenses": defenses or "none",
            "attack": label, "attack_name": name, "attack_params": ap,
            "byzantine_fraction": 0.0 if name == "none" else fraction, "dataset": base.dataset,
            "num_clients": base.num_clients, "rounds": int(base.total), "seed": int(base.seed),
            "model": f"{base.model.name} {list(base.model.hidden)}",
            "local": f"{base.local.num_steps} x SGD(batch {base.local.batch_size}, lr {base.local.lr})",
            "config_file": config_path, "driver": "projects/byzantine_bench/grid.py", **extra}


def run_grid(args) -> int:
    spec = importlib.util.spec_from_file_location("grid_config", args.config)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    base = mod.get_config()
    for kv in args.set or []:
        k, v = kv.split("=", 1)
        base[k] = type(base[k])(v) if not isinstance(base[k], str) else v
    fraction = float(args.fraction)
    config_ids = args.configs.split(",") if args.configs else list(CONFIGS)
    labels = args.attacks.split(",") if args.attacks else list(DEFAULT)
    unknown = [lab for lab in labels if lab not in SUITE]
    if unknown:
        raise SystemExit(f"unknown attack label(s) {unknown}; choose from {list(SUITE)}")
    groups = [g for g in ([lab for lab in labels if lab not in TARGETED], [lab for lab in labels if lab in TARGETED])
              if g]
    runner_ = None
    done = 0
    for cid, group in [(cid, g) for cid in config_ids for g in groups]:
        todo = [lab for lab in group
                if not os.path.exists(_cell_path(args.results, cid, lab, fraction, base.seed))]
        if not todo:
            continue
        try:
            for lab in todo:
                train.validate(cell_config(base, cid, lab, fraction))
        except (aggregate.AggregatorConfigError, attacks.AttackConfigError) as e:
            for lab in todo:
                _write(args.results, cid, lab, fraction, base.seed,
                       _record(base, cid, lab, fraction, args.config,
                               {"status": "not applicable", "reason": f"{type(e).__name__}: {e}"}))
            continue
        runner_ = runner_ or Runner(base, fraction)
        t0, c0 = time.time(), time.process_time()
        sim, loop, ids, byz = runner_.loop_for(cid, group)
        first = True
        for lab in todo:
            if args.limit and done >= args.limit:
                return done
            t, ct = time.time(), time.process_time()
            res = runner_.run_cell(sim, loop, ids, byz, cid, lab)
            res.update(wall_time_s=round(time.time() - (t0 if first else t), 2),
                       cpu_time_s=round(time.process_time() - (c0 if first else ct), 2), includes_compile=first)
            first = False
            _write(args.results, cid, lab, fraction, base.seed, _record(base, cid, lab, fraction, args.config, res))
            print(f"{cid:28s} {lab:14s} {res.get('status')} acc={res.get('test_accuracy', float('nan')):.4f} "
                  f"({res['wall_time_s']} s)", flush=True)
            done += 1
    return done


def _write(results, cid, lab, fraction, seed, rec):
    path = _cell_path(results, cid, lab, fraction, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f, indent=1)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- report


def load_rows(results):
    rows = []
    for root, _, files in os.walk(results):
        for fn in files:
            if fn.endswith(".json") and fn not in ("summary.json",):
                with open(os.path.join(root, fn)) as f:
                    r = json.load(f)
                r["grid_fraction"] = float(fn[:-5].rsplit("_s", 1)[0].rsplit("_", 1)[1])  # <label>_<fraction>_s<seed>
                rows.append(r)
    return rows


def summarize(rows):
    """Per (configuration, fraction): per attack the mean accuracy over the seeds run; clean =
    mean clean accuracy; worst = the lowest of the per-attack means over the untargeted attacks
    (ByzFL's worst case), with the attack and the seeds' spread of that attack; worst_run = the
    lowest single run; the backdoor's mean accuracy and attack success rate where run.
    Diverged cells count as accuracy 0."""
    by = {}
    for r in rows:
        by.setdefault((r["config"], r["grid_fraction"]), []).append(r)
    acc = lambda r: r["test_accuracy"] if r["status"] == "ok" else 0.0  # noqa: E731
    out = []
    for cid, frac in sorted(by, key=lambda t: (t[1], list(CONFIGS).index(t[0]) if t[0] in CONFIGS else 999)):
        rs = by[(cid, frac)]
        if all(r["status"] == "not applicable" for r in rs):
            out.append({"config": cid, "fraction": frac, "status": "not applicable", "reason": rs[0]["reason"]})
            continue
        per = {}
        for r in rs:
            per.setdefault(r["attack"], []).append(r)
        clean = [r["test_accuracy"] for r in per.get("none", []) if r["status"] == "ok"]
        means = {lab: float(np.mean([acc(r) for r in v])) for lab, v in per.items()
                 if lab != "none" and lab not in TARGETED}
        worst = min(means, key=means.get) if means else None
        c = float(np.mean(clean)) if clean else float("nan")
        row = {"config": cid, "fraction": frac, "status": "ok", "clean": c,
               "clean_std": float(np.std(clean)) if clean else float("nan"),
               "seeds": min((len(v) for lab, v in per.items() if lab not in TARGETED), default=0),
               "seeds_max": max((len(v) for lab, v in per.items() if lab not in TARGETED), default=0),
               "worst": means[worst] if worst else float("nan"), "worst_attack": worst or "",
               "worst_std": float(np.std([acc(r) for r in per[worst]])) if worst else float("nan"),
               "worst_run": min(acc(r) for lab in means for r in per[lab]) if worst else float("nan"),
               "attacks": len(means), "ratio": means[worst] / c if worst and clean else float("nan"),
               "per_attack": means}
        if "backdoor" in per:
            ok = [r for r in per["backdoor"] if r["status"] == "ok"]
            row.update(backdoor_asr=float(np.mean([r["backdoor_asr"] for r in ok])) if ok else float("nan"),
                       backdoor_acc=float(np.mean([acc(r) for r in per["backdoor"]])), backdoor_seeds=len(ok))
        out.append(row)
    return out


def _seeds(r):
    return f"{r['seeds']}" if r["seeds"] == r.get("seeds_max", r["seeds"]) else f"{r['seeds']}-{r['seeds_max']}"


def _pct(x):
    return f"{x:.4f}" if np.isfinite(x) else "-"


def headline(s, fraction) -> str:
    """The worst-case table of one Byzantine fraction (markdown)."""
    sf = [x for x in s if x["fraction"] == fraction]
    bd = any("backdoor_asr" in x for x in sf)
    lines = ["| configuration | clean acc | worst acc (mean over seeds) | worst / clean | worst attack | "
             "worst single run | seeds x attacks |" + (" backdoor ASR | acc under backdoor |" if bd else ""),
             "|---|---|---|---|---|---|---|" + ("---|---|" if bd else "")]
    for r in sorted([x for x in sf if x["status"] == "ok"], key=lambda x: -x["worst"]):
        ws = f" ± {r['worst_std']:.4f}" if r["seeds"] > 1 else ""
        line = (f"| {r['config']} | {_pct(r['clean'])} | {_pct(r['worst'])}{ws} | {r['ratio']:.2f} | "
                f"{r['worst_attack']} | {_pct(r['worst_run'])} | {_seeds(r)} x {r['attacks']} |")
        if bd:
            line += (f" {_pct(r['backdoor_asr'])} | {_pct(r['backdoor_acc'])} |" if "backdoor_asr" in r else " - | - |")
        lines.append(line)
    for r in [x for x in sf if x["status"] != "ok"]:
        lines.append(f"| {r['config']} | n/a | n/a | n/a | {r['reason'].split(': ', 1)[-1][:70]} | | 0 |"
                     + (" | |" if bd else ""))
    return "\n".join(lines)


def fractions_table(s) -> str:
    """worst / clean per configuration and Byzantine fraction (mean over the seeds run)."""
    fracs = sorted({x["fraction"] for x in s})
    ok = {(x["config"], x["fraction"]): x for x in s if x["status"] == "ok"}
    cids = [c for c in CONFIGS if any((c, f) in ok for f in fracs)]
    head = "| configuration | " + " | ".join(f"{int(round(100 * f))} %" for f in fracs) + " |"
    lines = [head, "|---" * (len(fracs) + 1) + "|"]
    key = max(fracs, key=lambda f: sum((c, f) in ok for c in cids))
    for c in sorted(cids, key=lambda c: -ok[(c, key)]["ratio"] if (c, key) in ok else 0):
        lines.append(f"| {c} | " + " | ".join(
            f"{ok[(c, f)]['ratio']:.2f} ({ok[(c, f)]['seeds']})" if (c, f) in ok else "-" for f in fracs) + " |")
    return "\n".join(lines)


def report(results, plot=True) -> str:
    rows = load_rows(results)
    s = summarize(rows)
    ok = [r for r in rows if r["status"] != "not applicable"]
    meta = ok[0] if ok else rows[0]
    fracs = sorted({x["fraction"] for x in s})
    seeds = sorted({r["seed"] for r in ok})
    lines = [f"{meta['dataset']}, {meta['num_clients']} clients, {meta['rounds']} rounds, seeds {seeds}, "
             f"{meta['model']}, {meta['local']}. Worst case over the untargeted attacks run (per attack the mean "
             "over seeds, then the lowest); clean = no attack.", ""]
    labs = [lab for lab in UNTARGETED if lab != "none"]
    for fr in fracs:
        sf = [x for x in s if x["fraction"] == fr]
        lines += [f"### {int(round(100 * fr))} % Byzantine", "", headline(s, fr), "",
                  f"Per attack, mean over seeds ({int(round(100 * fr))} %):", "",
                  "| configuration | " + " | ".join(labs) + " |", "|---" * (len(labs) + 1) + "|"]
        for r in [x for x in sf if x["status"] == "ok"]:
            lines.append(f"| {r['config']} | " + " | ".join(
                f"{r['per_attack'][lab]:.2f}" if lab in r["per_attack"] else "-" for lab in labs) + " |")
        lines.append("")
    lines += ["### worst / clean by Byzantine fraction (seeds in brackets)", "", fractions_table(s), ""]
    cpu = sum(r.get("cpu_time_s", 0) for r in ok)
    wall = sum(r.get("wall_time_s", 0) for r in ok)
    lines += [f"{len(ok)} cells, {cpu / 60:.1f} CPU minutes and {wall / 60:.1f} wall minutes in all "
              "(compiles included; 2-core CPU shared with other jobs)."]
    md = "\n".join(lines) + "\n"
    with open(os.path.join(results, "table.md"), "w") as f:
        f.write(md)
    with open(os.path.join(results, "summary.json"), "w") as f:
        json.dump(s, f, indent=1)
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        for fr in fracs:
            good = sorted([x for x in s if x["status"] == "ok" and x["fraction"] == fr], key=lambda x: -x["worst"])
            fig, ax = plt.subplots(figsize=(9, 0.3 * len(good) + 1.3))
            y = np.arange(len(good))
            ax.barh(y - 0.2, [g["clean"] for g in good], 0.4, label="clean")
            ax.barh(y + 0.2, [g["worst"] for g in good], 0.4, xerr=[g["worst_std"] if g["seeds"] > 1 else 0
                                                                    for g in good],
                    label="worst case over attacks (mean over seeds)")
            ax.set_yticks(y, [g["config"] for g in good])
            ax.invert_yaxis()
            ax.set_xlabel("test accuracy")
            ax.set_title(f"{meta['dataset']}: clean vs worst case, {int(round(100 * fr))} % Byzantine")
            ax.legend(loc="lower left")
            fig.tight_layout()
            fig.savefig(os.path.join(results, f"worst_case_{int(round(100 * fr))}.png"), dpi=100)
            plt.close(fig)
    return md


def readme(readme_path, results_dirs) -> None:
    """The README's generated results: per data set its scale, the 20 % worst-case table (with
    the backdoor's ASR where run) and worst / clean at every fraction run (sections
    `results_<dataset>` between markers)."""
    from lib import report as report_lib

    for d in results_dirs:
        rows = load_rows(d)
        s = summarize(rows)
        ok = [r for r in rows if r["status"] != "not applicable"]
        m = ok[0]
        seeds = sorted({r["seed"] for r in ok})
        cpu = sum(r.get("cpu_time_s", 0) for r in ok) / 3600
        text = [f"Scale: {m['dataset']}, {m['num_clients']} clients (all every round), {m['model']}, {m['local']}, "
                f"{m['rounds']} rounds, server SGD lr 1; seeds {', '.join(map(str, seeds))} (not every cell has "
                f"every seed: the seeds x attacks column says what each row averages); config "
                f"`{m['config_file']}`; {len(ok)} runs, {cpu:.1f} CPU hours on the shared 2-core CPU. "
                f"Generated from `{os.path.relpath(d, os.path.dirname(readme_path))}/`.", ""]
        for fr in sorted({x["fraction"] for x in s}):
            if abs(fr - 0.2) < 1e-9:
                text += [f"**{int(round(100 * fr))} % Byzantine**, worst case over the untargeted attacks:", "",
                         headline(s, fr), ""]
        text += ["**worst / clean** at each Byzantine fraction (number of seeds in brackets):", "",
                 fractions_table(s)]
        report_lib.replace_section(readme_path, f"results_{m['dataset']}", "\n".join(text))


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    p.add_argument("--results")
    p.add_argument("--configs", default="")
    p.add_argument("--attacks", default="")
    p.add_argument("--fraction", default="0.2")
    p.add_argument("--set", action="append")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--report", help="a results folder: its table.md, summary.json and plots")
    p.add_argument("--readme", nargs="*", help="results folders: regenerate the README's results sections")
    a = p.parse_args(argv)
    if a.report:
        print(report(a.report))
        return
    if a.readme:
        readme(os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md"), a.readme)
        return
    n = run_grid(a)
    print(f"{n} cells run")


if __name__ == "__main__":
    main()
