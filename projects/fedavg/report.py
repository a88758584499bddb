"""Results JSON -> the README's results section. `python -m projects.fedavg.report`."""

from __future__ import annotations

import json
import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(os.path.dirname(os.path.dirname(HERE)), "benchmarks", "results", "fl_population.json")


def section() -> str:
    out = ["| setting | paper | ours | hardware | wall time | config |", "|---|---|---|---|---|---|"]
    for r in report.load_results(os.path.join(HERE, "results")):
        setting = (f"{r['population']:,} clients (Synthetic(1,1), spread 0.5, 2-8 samples), cohort {r['cohort']}, "
                   f"{r['rounds']} rounds x {r['local']['num_epochs']} local epoch (batch {r['local']['batch_size']}, "
                   f"lr {r['local']['lr']}), MLP {r['model_hidden']}")
        ours = (f"{100 * r['test_accuracy']:.1f} % on {r['eval_clients']:,} held-out clients; killed with SIGKILL "
                f"after step {r['killed_after_step']} and resumed: "
                f"{'bit-identical' if r['resumed_equals_uninterrupted'] else 'DIFFERENT'} final state")
        hw = f"{r['device_kind']} x {r['devices']} (2-core host), peak RSS {r['children_peak_rss_mb']:.0f} MB"
        out.append(f"| {setting} | n/a (the paper runs 100 clients) | {ours} | {hw} | "
                   f"{r['train_wall_s']:.0f} s training, {r['process_wall_s']:.0f} s process | `{r['config']}` |")
    if os.path.exists(BENCH):
        b = json.load(open(BENCH))
        pops = b["populations"]
        out.append("")
        out.append(f"Round time, same cohort of {b['cohort']}: " + ", ".join(
            f"{int(n):,} clients {p['median_round_s'] * 1e3:.0f} ms" for n, p in pops.items())
            + f" (1M / 10k = **{b['round_time_ratio_big_over_small']:.3f}x**); device memory of the compiled round "
            + "identical for both (" + f"{next(iter(pops.values()))['argument_bytes']:,} bytes of arguments) — "
            "from `benchmarks/fl_population.py`.")
    return "\n".join(out) + "\n"


def main() -> None:
    report.replace_section(os.path.join(HERE, "README.md"), "results", section())
    print(section())


if __name__ == "__main__":
    main()
