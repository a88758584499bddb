"""projects/celu_vfl/results/credit_default.json -> the README table and the AUC-vs-virtual-time plot.

    python -m projects.celu_vfl.report
"""

from __future__ import annotations

import json
import os

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "credit_default.json")
METHODS = (("celu", "CELU-VFL (W=5, R=5, xi=0.5)"), ("local", "local updates, no weighting (W=5, R=5)"),
           ("vanilla", "vanilla VFL (R=1)"),
           ("celustale", "ablation, lr 0.2: CELU-VFL (W=10, R=10, xi=0.5)"),
           ("localstale", "ablation, lr 0.2: no weighting (W=10, R=10)"),
           ("vanillastale", "ablation, lr 0.2: vanilla VFL (R=1)"))
BASELINE = {"celu": "vanilla", "local": "vanilla", "vanilla": "vanilla", "celustale": "vanillastale",
            "localstale": "vanillastale", "vanillastale": "vanillastale"}  # speedups at the same learning rate
TARGETS = (0.74, 0.75, 0.76)


def _k(prefix, target):
    return f"{prefix}{round(target * 1000)}"  # no dots: lib.report reads dotted keys as nested


def _first(curve_auc, curve_t, target):
    """Virtual seconds and round of the first evaluation with test AUC >= target (None if never)."""
    t = dict((s, v) for s, v in curve_t)
    for s, v in curve_auc:
        if v >= target:
            return t[s], s
    return None, None


def main() -> None:
    with open(RESULTS) as f:
        res = json.load(f)
    runs = res["runs"]
    by = {m: [r for n, r in sorted(runs.items()) if n.startswith(m + "_")] for m, _ in METHODS}
    rows = []
    for m, label in METHODS:
        rs = by[m]
        if not rs:
            continue
        row = {"method": label, "seeds": len(rs), "rounds": rs[0]["final"]["step"],
               "round_s": f"{rs[0]['final']['round_virtual_s'] * 1e3:.1f}",
               "bytes": f"{rs[0]['final']['bytes_per_round'] / 1024:.0f}",
               "best": f"{np.mean([max(v for _, v in r['curves']['test_auc']) for r in rs]):.4f}",
               "final": f"{np.mean([r['final']['test_auc'] for r in rs]):.4f}"}
        for tgt in TARGETS:
            ts = [_first(r["curves"]["test_auc"], r["curves"]["virtual_time_s"], tgt)[0] for r in rs]
            ok = [t for t in ts if t is not None]
            row[_k("t", tgt)] = (f"{np.mean(ok):.1f}" + ("" if len(ok) == len(ts) else f" ({len(ok)}/{len(ts)} seeds)")
                              if ok else "not reached")
            van = [_first(r["curves"]["test_auc"], r["curves"]["virtual_time_s"], tgt)[0] for r in by[BASELINE[m]]]
            van = [t for t in van if t is not None]
            row[_k("s", tgt)] = f"{np.mean(van) / np.mean(ok):.1f}x" if ok and van else "–"
        rows.append(row)
    cols = [("method", "method"), ("seeds", "seeds"), ("rounds run", "rounds"), ("virtual ms / round", "round_s"),
            ("KiB / round", "bytes"), ("best test AUC", "best"), ("final test AUC", "final")]
    for tgt in TARGETS:
        cols += [(f"virtual s to AUC {tgt}", _k("t", tgt)), (f"speedup vs vanilla, same lr ({tgt})", _k("s", tgt))]
    kept = {k: np.mean([np.mean([v for _, v in r["curves"][k]]) for r in by["celu"]])
            for k in ("train_guest_kept", "train_host_kept", "train_local_updates")} if by["celu"] else {}
    r0 = next(iter(runs.values()))
    cfg = r0["config"]
    text = [
        "UCI credit default (FATE split: guest 13 features + label, host 10), 24,000 train / 6,000 test, "
        f"batch {cfg['batch_size']}, Wide&Deep bottoms (linear + MLP {tuple(cfg['model']['bottom_hidden'])} -> "
        f"{cfg['model']['embed_dim']}), linear top, Adagrad lr {cfg['lr']}. Wire: preset `{cfg['wire']['preset']}` "
        f"(100 Mbit/s, 25 ms one way), {cfg['wire']['compute_s'] * 1e3:g} ms of compute per update, local "
        "updates overlapped with the wire. Times are the mean over seeds of the virtual time at the first "
        "evaluation (every 10 rounds) with test AUC at or above the target.\n",
        report.markdown_table(rows, cols),
        (f"\nCELU-VFL kept (cosine >= xi) {100 * kept['train_guest_kept']:.1f} % of the guest's and "
         f"{100 * kept['train_host_kept']:.1f} % of the host's instances in its local updates, and made "
         f"{kept['train_local_updates']:.2f} local updates per round on average (of R - 1 = 4; a draw is skipped "
         "when every cached batch was used in the last W - 1 local updates).") if kept else "",
        f"\nMachine: {res['machine']} ({res['device_kind']}); config `configs/celu_vfl/credit_default.py`, "
        "command `python -m projects.celu_vfl.reproduce`.",
    ]
    readme = os.path.join(HERE, "README.md")
    if os.path.exists(readme):
        report.replace_section(readme, "results", "\n".join(text))
    series = {}
    for m, label in METHODS:
        rs = by[m]
        if rs:
            t = [v for _, v in rs[0]["curves"]["virtual_time_s"]]
            auc = np.mean([[v for _, v in r["curves"]["test_auc"]][:len(t)] for r in rs], axis=0)
            series[label] = (t, auc)
    _plot(series, os.path.join(HERE, "results", "auc_vs_virtual_time.png"))
    print("\n".join(text))


def _plot(series, out_png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (t, auc) in series.items():
        ax.plot(t, auc, label=label, lw=1.2)
    ax.set_xlabel("virtual time under the WAN preset (s)")
    ax.set_ylabel("test AUC (mean over seeds)")
    ax.set_ylim(0.65, 0.78)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("credit default: CELU-VFL vs vanilla VFL")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
