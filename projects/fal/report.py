"""Results JSON (launch/sweep.py) -> README table and plot. `python -m projects.fal.report`."""

from __future__ import annotations

import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))


def tables(dataset: str = "mnist") -> str:
    rows = report.load_results(os.path.join(HERE, "results", dataset))
    if not rows:
        return "(not run yet)"
    rows.sort(key=lambda r: (-r["config"]["dirichlet_alpha"], not r["config"]["adv"]["train"]))
    for r in rows:
        f = r["final"]
        r["training"] = "adversarial (PGD)" if r["config"]["adv"]["train"] else "clean (FedAvg)"
        r["alpha"] = r["config"]["dirichlet_alpha"]
        for k in ("test_accuracy", "fgsm_accuracy", "pgd_accuracy"):
            r[k[:4]] = f"{100 * f[k]:.1f}"
        losses = report.eval_curve(r, "train_loss")
        r["loss0"] = f"{losses[0][1]:.3f}" if losses else "–"
        r["loss1"] = f"{losses[-1][1]:.3f}" if losses else "–"
        r["wall"] = f"{f['wall_time_s']:.0f}"
    c = rows[0]["config"]
    a = c["adv"]
    head = (f"{dataset.upper()}, {c['num_clients']} clients with Dirichlet(α) labels, {c['clients_per_round']} per round, "
            f"MLP {tuple(c['model']['hidden'])}, {c['local']['num_steps']} local SGD steps (batch "
            f"{c['local']['batch_size']}, lr {c['local']['lr']}), {c['total']} rounds, seed {c['seed']}. Attack: L-inf "
            f"ε = {a['eps']}; training PGD-{a['steps']} (step {a['alpha']}), evaluation PGD-{a['eval_steps']} and FGSM on "
            f"the whole test set. 'Training loss' is the loss the clients minimise (on PGD examples for adversarial "
            f"training), averaged over a round's clients, at the first and last logged round. Config "
            "`configs/fal/mnist.py`" + ("" if dataset == "mnist" else f" with `--config.dataset={dataset}`") +
            "; 2-core CPU shared with other jobs.\n")
    cols = [("α", "alpha"), ("training", "training"), ("clean acc %", "test"), ("FGSM acc %", "fgsm"),
            ("PGD acc %", "pgd_"), ("training loss, first → last", "losses"), ("wall s", "wall")]
    for r in rows:
        r["losses"] = f"{r['loss0']} → {r['loss1']}"
    series = {f"α={r['alpha']}": tuple(map(list, zip(*report.eval_curve(r, "train_loss"))))
              for r in rows if r["config"]["adv"]["train"] and report.eval_curve(r, "train_loss")}
    png = os.path.join(HERE, "results", f"{dataset}_robust_loss.png")
    if not series:
        return head + "\n" + report.markdown_table(rows, cols)
    report.line_plot(series, png, xlabel="round", ylabel="robust training loss (PGD)",
                     title=f"{dataset.upper()}: adversarial training")
    return (head + "\n" + report.markdown_table(rows, cols) + f"\n\n![{dataset} robust loss]"
            f"(results/{dataset}_robust_loss.png)")


def main():
    readme = os.path.join(HERE, "README.md")
    for dataset in ("mnist", "fashion_mnist"):
        report.replace_section(readme, dataset, tables(dataset))


if __name__ == "__main__":
    main()
