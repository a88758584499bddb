"""The robustness grid (rule x attack x Byzantine fraction): runs it, one JSON per cell, and
generates the README tables, the summary and the plot from those JSON files.

    python -m projects.flag_aggregator.table --config configs/flag_aggregator/mnist.py \\
        --results projects/flag_aggregator/results/mnist [--rules ...] [--attacks ...] \\
        [--fractions 0,0.1,0.2,0.3] [--set total=20] [--limit N]
    python -m projects.flag_aggregator.table --report

The whole grid runs in one process through `fast.Runner`: the data set is loaded once and
every (rule variant, attack) shares one compiled round loop. Resumable per cell: a cell
whose JSON exists is skipped. A cell the rule cannot run (e.g. Bulyan with n < 4f + 3)
is recorded as "not applicable" with the rule's named error, without running.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import time

from lib.fl import aggregate

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent.parent

RULES = ("fedavg", "median", "trimmed_mean", "krum", "multi_krum", "bulyan", "geometric_median",
         "centered_clipping", "flag")
ATTACKS = ("sign_flip", "gaussian", "alie", "ipm", "label_flip")
CLASSICAL = tuple(r for r in RULES if aggregate.is_robust(r) and r != "flag")  # the robust baselines


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


def grid_rule_params(rule: str, fraction: float) -> dict:
    """The table's choice per rule: Flag with a 2-dim subspace; trimmed mean trims at least
    the Byzantine share; the others use lib.fl.aggregate defaults (f from the fraction)."""
    if rule == "flag":
        return {"m": 2}
    if rule == "trimmed_mean":
        return {"beta": max(0.1, fraction)}
    return {}


def cells(rules, attacks, fractions):
    for frac in fractions:
        for attack in (attacks if frac > 0 else ["none"]):
            for rule in rules:
                yield rule, attack, frac


def cell_name(rule, attack, frac) -> str:
    return f"{rule}_{attack}_{frac:g}"


def run_grid(a):
    from lib.fl import attacks as attacks_lib
    from projects.flag_aggregator import fast, train

    out = pathlib.Path(a.results)
    out.mkdir(parents=True, exist_ok=True)
    base = load_config(a.config, a.set)
    todo = []
    for rule, attack, frac in cells(a.rules.split(","), a.attacks.split(","), map(float, a.fractions.split(","))):
        dst = out / f"{cell_name(rule, attack, frac)}.json"
        if dst.exists():
            continue
        c = fast.cell_config(base, rule, attack, frac, grid_rule_params(rule, frac))
        n, f = train.per_round(c)
        row = {"rule": rule, "rule_params": train.rule_params(c), "attack": attack, "byzantine_fraction": frac,
               "f_per_round": f, "dataset": c.dataset, "num_clients": c.num_clients, "clients_per_round": n,
               "rounds": int(c.total), "model": f"{c.model.name} {list(c.model.hidden)}",
               "local": f"{c.local.num_steps} x SGD(batch {c.local.batch_size}, lr {c.local.lr})",
               "seed": c.seed, "config": a.config, "overrides": a.set, "driver": "projects/flag_aggregator/fast.py"}
        if attack == "alie":
            ap = train.attack_params(c)
            row["attack_params"] = {"z": round(attacks_lib.alie_z(ap["n"], ap["f"]), 4)}
        reason = fast.not_applicable(c)
        if reason is not None:
            row.update(status="not applicable", reason=reason)
            dst.write_text(json.dumps(row, indent=1))
            print(dst.stem, "not applicable:", reason, flush=True)
            continue
        todo.append((dst, c, row))
    if a.limit:
        todo = todo[:a.limit]
    if not todo:
        return
    t0, c0 = time.time(), time.process_time()
    runner = fast.Runner(base, [fast.variant_of(c) for _, c, _ in todo])
    print(f"loaded {base.dataset} in {time.time() - t0:.1f} s ({time.process_time() - c0:.1f} CPU-s); "
          f"{len(todo)} cells, {len(runner.variants)} rule variants", flush=True)
    for dst, c, row in todo:
        t, cpu, compiles = time.time(), time.process_time(), runner.compiles
        res = runner.run(c)
        row.update(status=res["status"], step=res["step"], byzantine_clients=res["byzantine_clients"])
        row.update({k: res[k] for k in ("test_accuracy", "test_loss", "reason") if k in res})
        row["wall_time_s"] = round(time.time() - t, 2)
        row["cpu_time_s"] = round(time.process_time() - cpu, 2)
        row["includes_compile"] = runner.compiles > compiles
        dst.write_text(json.dumps(row, indent=1))
        print(dst.stem, row.get("test_accuracy", row["status"]), f"{row['cpu_time_s']} CPU-s", flush=True)


# ----------------------------------------------------------------------------- report


def _acc(r):
    return r["test_accuracy"] if r.get("status") == "ok" else None


def _cell(r):
    if r.get("status") == "ok":
        return f"{r['test_accuracy']:.3f}"
    return {"not applicable": "n/a", "diverged": "div."}.get(r.get("status"), str(r.get("status")))


def _setting(rows) -> str:
    r = rows[0]
    keys = ("num_clients", "clients_per_round", "rounds", "model", "local", "seed", "config", "overrides")
    vals = {k: json.dumps(r.get(k)) for k in keys}
    if any(json.dumps(x.get(k)) != vals[k] for x in rows for k in keys):
        raise ValueError(f"results of {r['dataset']} mix settings: split them into sub-folders")
    ov = " ".join(r["overrides"]) or "none"
    extra = "".join(f", {k} {r[k]}" for k in ("model", "local", "seed") if k in r)
    return (f"{r['num_clients']} clients, {r['clients_per_round']} per round, {r['rounds']} rounds{extra}; "
            f"config `{r['config']}`, overrides: {ov}")


def summary(rows) -> dict:
    """Per fraction > 0: for each attack, Flag's accuracy vs the best classical robust rule's."""
    out = {}
    for frac in sorted({r["byzantine_fraction"] for r in rows if r["byzantine_fraction"] > 0}):
        for attack in sorted({r["attack"] for r in rows if r["byzantine_fraction"] == frac}):
            rs = {r["rule"]: _acc(r) for r in rows if r["byzantine_fraction"] == frac and r["attack"] == attack}
            classical = {k: v for k, v in rs.items() if k in CLASSICAL and v is not None}
            if rs.get("flag") is None or not classical:
                continue
            best = max(classical, key=classical.get)
            out[(frac, attack)] = {"flag": rs["flag"], "best": best, "best_acc": classical[best],
                                   "gap": rs["flag"] - classical[best]}
    return out


def report_dataset(rows, name: str, margin: float) -> str:
    fracs = sorted({r["byzantine_fraction"] for r in rows})
    md = [f"**{name}** ({_setting(rows)}). Final test accuracy on the whole test set; "
          f"worst = lowest over the attacks in that table; "
          f"n/a = the rule's named error (reason in the cell's JSON); div. = stopped on a non-finite update.", ""]
    clean = {r["rule"]: r for r in rows if r["byzantine_fraction"] == 0}
    for frac in [f for f in fracs if f > 0]:
        rs = [r for r in rows if r["byzantine_fraction"] == frac]
        f_round = rs[0].get("f_per_round", "ceil(fraction x clients per round)")
        attacks = [a for a in ATTACKS if any(r["attack"] == a for r in rs)]
        cols = (["none 0%"] if clean else []) + attacks
        md.append(f"Byzantine fraction {frac:.0%} (rules configured with f = {f_round} per round):")
        md.append("")
        md.append("| rule | " + " | ".join(cols) + " | worst |")
        md.append("|---|" + "---|" * (len(cols) + 1))
        for rule in [x for x in RULES if any(r["rule"] == x for r in rs) or x in clean]:
            cells_ = [_cell(clean[rule]) if rule in clean else "–"] if clean else []
            accs = []
            for att in attacks:
                hit = [r for r in rs if r["rule"] == rule and r["attack"] == att]
                cells_.append(_cell(hit[0]) if hit else "–")
                if hit and hit[0].get("status") in ("ok", "diverged"):
                    accs.append(_acc(hit[0]) or 0.0)
            worst = f"{min(accs):.3f}" if accs and len(accs) == len(attacks) else "–"
            md.append(f"| {rule} | " + " | ".join(cells_) + f" | {worst} |")
        md.append("")
    if not [f for f in fracs if f > 0] and clean:
        md += ["| rule | none 0% |", "|---|---|"] + [f"| {k} | {_cell(v)} |" for k, v in clean.items()] + [""]
    s = summary(rows)
    if s:
        wins = sum(v["gap"] >= -margin for v in s.values())
        md.append(f"Flag vs the best classical robust rule ({', '.join(CLASSICAL)}) in each attacked column: "
                  f"Flag is within {margin:.2f} of it or better in {wins} of {len(s)} columns; "
                  f"mean gap {sum(v['gap'] for v in s.values()) / len(s):+.3f}.")
        md.append("")
        md.append("| fraction | attack | Flag | best classical | gap |")
        md.append("|---|---|---|---|---|")
        for (frac, att), v in sorted(s.items()):
            md.append(f"| {frac:.0%} | {att} | {v['flag']:.3f} | {v['best']} {v['best_acc']:.3f} | {v['gap']:+.3f} |")
        md.append("")
    cpu = [r["cpu_time_s"] for r in rows if "cpu_time_s" in r]
    wall = [r["wall_time_s"] for r in rows if "wall_time_s" in r]
    if cpu:
        md.append(f"Cost: {len(cpu)} cells run, {sum(cpu) / 60:.1f} CPU-min and {sum(wall) / 60:.1f} min wall in all "
                  f"(the one compile of the grid is in its first cell), 2-core CPU (shared, loaded), 1 device.")
    elif wall:
        md.append(f"Cost: {len(wall)} cells run one by one through train.py, {sum(wall) / 60:.1f} min wall "
                  f"in all, 2-core CPU (shared, loaded).")
    return "\n".join(md)


def plot(rows, out_png: str, title: str):
    """Worst accuracy over the attacks run, against the Byzantine fraction, per rule."""
    from lib import report as rep

    series = {}
    for rule in RULES:
        xs, ys = [], []
        for frac in sorted({r["byzantine_fraction"] for r in rows}):
            rs = [r for r in rows if r["rule"] == rule and r["byzantine_fraction"] == frac]
            if not rs or any(r.get("status") == "not applicable" for r in rs):
                continue
            xs.append(100 * frac)
            ys.append(min(_acc(r) or 0.0 for r in rs))
        if xs:
            series[rule] = (xs, ys)
    return rep.line_plot(series, out_png, xlabel="Byzantine clients (%)",
                         ylabel="worst test accuracy over attacks", title=title)


SECTIONS = {  # README section -> results sub-folder, title
    "mnist": ("mnist", "MNIST, full grid"),
    "femnist": ("femnist", "FEMNIST, full grid"),
    "mnist_slice_20rounds": ("mnist_slice_20rounds", "MNIST slice of session 1 (train.py, 20 rounds)"),
}


def _agreement(old, new) -> str:
    """The session-1 cells (train.py) against the same cells of the fast.py grid."""
    key = lambda r: (r["rule"], r["attack"], r["byzantine_fraction"], r.get("rounds"))
    new = {key(r): r for r in new if r.get("status") == "ok"}
    pairs = [(r, new[key(r)]) for r in old if r.get("status") == "ok" and key(r) in new]
    if not pairs:
        return ""
    d = max(abs(a["test_accuracy"] - b["test_accuracy"]) for a, b in pairs)
    return (f"The same {len(pairs)} cells in the full MNIST grid above (fast.py, same config and rounds) "
            f"differ from these train.py runs by at most {d:.4f} in accuracy.")


def write_readme(results: pathlib.Path = RESULTS, margin: float = 0.01):
    from lib import report as rep

    readme = HERE / "README.md"
    for section, (sub, title) in SECTIONS.items():
        d = results / sub
        rows = rep.load_results(str(d))
        if not rows:
            continue
        text = report_dataset(rows, title, margin)
        if section == "mnist_slice_20rounds":
            text += "\n\n" + _agreement(rows, rep.load_results(str(results / "mnist")))
        if any(r["byzantine_fraction"] > 0 for r in rows) and section != "mnist_slice_20rounds":
            png = plot(rows, str(results / f"{sub}_worst.png"), f"{title}: worst case over attacks")
            text += f"\n\n![{title}](results/{pathlib.Path(png).name})"
        rep.replace_section(str(readme), section, text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config")
    ap.add_argument("--results")
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--fractions", default="0,0.1,0.2,0.3")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--limit", type=int, default=0, help="run at most this many cells (0: all)")
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    if not a.report:
        run_grid(a)
    write_readme()


if __name__ == "__main__":
    main()
