"""A vanilla VFL epoch on credit default: lib.vfl vs a two-party PyTorch implementation.

Setting (issue 15): UCI credit default, FATE split (guest 13 features + label, host 10), the
24,000-row train split, batch 256 (93 steps), one epoch of vanilla VFL: the host sends its
activations, the guest updates its bottom and top models and returns the derivatives, the host
updates. Same model (Wide&Deep bottoms: linear + MLP 64 -> 16 per party; linear top), same
initial weights (copied), same batches, Adagrad lr 0.05 everywhere.

Implementations, timed interleaved in one process after a warm-up epoch (compile reported
separately):
- peer: PyTorch (CPU), two party objects exchanging explicit tensors per step: the host's
  activations detached and sent, received by the guest as a leaf that requires grad, its .grad
  sent back, `backward(d)` on the host: what a researcher writes for two-party split learning.
- ours, epoch program: `VerticalModel.make_vanilla_epoch` (the epoch's steps in one lax.scan
  inside the shard_map over `party`).
- ours, step loop: a Python loop calling the jitted `make_vanilla_step` per batch.
Each of ours runs with both parties on one device and with one party per device (2 CPU devices).

Checks: both implementations count the same bytes per epoch (activations forward + derivatives
back, float32), and their epoch losses agree. Results: benchmarks/results/vfl.json and vfl.md.

    TESSERA_DATA_DIR=/path/to/data python benchmarks/vfl.py [--repeats 5]
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from lib.data import guest_host  # noqa: E402
from lib.data.iterators import EpochBatcher  # noqa: E402
from lib.vfl import parties  # noqa: E402

BATCH, EMBED, HIDDEN, LR = 256, 16, 64, 0.05
LABELS = {"peer": "peer: PyTorch, two parties, explicit tensors per step",
          "epoch_1dev": "ours: epoch program (lax.scan), both parties on 1 device",
          "epoch_2dev": "ours: epoch program (lax.scan), one party per device (2 devices)",
          "loop_1dev": "ours: Python loop of the jitted step, 1 device",
          "loop_2dev": "ours: Python loop of the jitted step, 2 devices"}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class TorchParty:
    """One party: its bottom (and for the guest the top), an Adagrad optimizer, bytes sent."""

    def __init__(self, torch, params: dict, dim: int, top: dict | None):
        nn = torch.nn

        def linear(p, d_in):
            layer = nn.Linear(d_in, p["kernel"].shape[1])
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(p["kernel"][:d_in].T)))
                layer.bias.copy_(torch.from_numpy(np.asarray(p["bias"])))
            return layer

        self.torch = torch
        self.wide, self.deep0 = linear(params["wide"], dim), linear(params["deep_0"], dim)
        self.deep_out = linear(params["deep_out"], HIDDEN)
        mods = [self.wide, self.deep0, self.deep_out]
        self.top = None
        if top is not None:
            self.top = linear(top["out"], top["out"]["kernel"].shape[0])
            mods.append(self.top)
        self.params = [p for m in mods for p in m.parameters()]
        # optax.adagrad defaults: accumulator starts at 0.1, eps 1e-7
        self.opt = torch.optim.Adagrad(self.params, lr=LR, initial_accumulator_value=0.1, eps=1e-7)
        self.bytes_sent = 0

    def bottom(self, x):
        return self.wide(x) + self.deep_out(self.torch.relu(self.deep0(x)))

    def send(self, t):
        msg = t.detach().clone()  # what crosses the wire
        self.bytes_sent += msg.numel() * msg.element_size()
        return msg


def torch_epoch(torch, guest, host, xg, xh, y, order):
    """One vanilla VFL epoch with explicit messages; returns the mean loss."""
    losses = []
    for idx in order:
        a_h = host.bottom(xh[idx])  # host forward
        msg = host.send(a_h)
        a_recv = msg.requires_grad_(True)  # guest receives
        logits = guest.top(torch.cat([guest.bottom(xg[idx]), a_recv], dim=1))[:, 0]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y[idx])
        guest.opt.zero_grad()
        loss.backward()
        guest.opt.step()
        d = guest.send(a_recv.grad)  # derivatives back
        host.opt.zero_grad()
        a_h.backward(d)
        host.opt.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    ap.add_argument("--note", default="")
    ap.add_argument("--impls", default="epoch_1dev,loop_1dev",
                    help="ours to time besides the peer; the 2-device variants (epoch_2dev, loop_2dev) hit XLA:CPU's "
                         "40 s collective rendezvous timeout on this 2-core machine when PyTorch's threads run in "
                         "the same process, so they are not in the default")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="PyTorch intra-op threads; 1 is its fastest here: with 2 threads on this shared 2-core "
                         "machine an epoch took 3-28 s instead of 0.4 s (OpenMP workers contending for the cores)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.torch_threads)
    load_before = os.getloadavg()[0]
    data = guest_host.load(os.environ.get("TESSERA_DATA_DIR", os.path.join(REPO, "data")), "default_credit")
    train, _ = guest_host.split(data, 0.2, seed=0)
    batcher = EpochBatcher(len(train.y), BATCH, seed=0)
    order = np.stack([batcher.indices(s) for s in range(batcher.steps_per_epoch)]).astype(np.int32)
    steps = len(order)

    models, states, arrays, fns = {}, {}, {}, {}
    for nd in sorted({int(n[-4]) for n in args.impls.split(",") if n}):
        vm = parties.VerticalModel(train.feature_dims, embed_dim=EMBED, bottom_hidden=(HIDDEN,), top_hidden=(),
                                   tx_bottom=optax.adagrad(LR), tx_top=optax.adagrad(LR), batch_size=BATCH,
                                   mesh=parties.party_mesh(2, nd))
        models[nd], arrays[nd] = vm, vm.place_data(train.x, train.y)
        states[f"epoch_{nd}dev"] = states[f"loop_{nd}dev"] = vm.init(jax.random.PRNGKey(0))
        fns[f"epoch_{nd}dev"], fns[f"loop_{nd}dev"] = vm.make_vanilla_epoch(), vm.make_vanilla_step()
    init = jax.device_get(next(iter(states.values())))
    key = jax.random.PRNGKey(1)
    idx_dev = jnp.asarray(order)
    idx_steps = [jnp.asarray(i) for i in order]
    step_keys = [jax.random.fold_in(key, s) for s in range(steps)]

    def run_ours(name):
        nd = int(name[-4])
        if name.startswith("epoch"):
            st, losses = fns[name](states[name], arrays[nd], idx_dev, key)
            jax.block_until_ready(st)
            states[name] = st
            return float(np.mean(np.asarray(losses)))
        st, losses = states[name], []
        for s in range(steps):
            st, loss = fns[name](st, arrays[nd], idx_steps[s], step_keys[s])
            losses.append(loss)
        jax.block_until_ready(st)
        states[name] = st
        return float(np.mean(np.asarray(jnp.stack(losses))))

    def part(t, p):
        return jax.tree.map(lambda a: np.asarray(a[p]), t)

    guest = TorchParty(torch, part(init["bottom"], 0), train.feature_dims[0], part(init["top"], 0))
    host = TorchParty(torch, part(init["bottom"], 1), train.feature_dims[1], None)
    xg, xh = torch.from_numpy(train.x[0]), torch.from_numpy(train.x[1])
    yt = torch.from_numpy(train.y)
    order_t = [torch.from_numpy(i.astype(np.int64)) for i in order]

    names = ["peer"] + [n for n in args.impls.split(",") if n]
    times = {n: [] for n in names}
    first_loss, compile_s = {}, {}
    for n in names:  # warm-up epoch (compiles ours), also the equivalence check: identical start, same batches
        t0 = time.perf_counter()
        first_loss[n] = torch_epoch(torch, guest, host, xg, xh, yt, order_t) if n == "peer" else run_ours(n)
        compile_s[n] = time.perf_counter() - t0
    peer_bytes_epoch = guest.bytes_sent + host.bytes_sent
    for _ in range(args.repeats):
        for n in names:
            t0 = time.perf_counter()
            if n == "peer":
                torch_epoch(torch, guest, host, xg, xh, yt, order_t)
            else:
                run_ours(n)
            times[n].append(time.perf_counter() - t0)
    ours_bytes = steps * next(iter(models.values())).message_bytes()["total"]
    med = {n: statistics.median(v) for n, v in times.items()}
    res = {"setting": f"credit default train split ({len(train.y)} rows), batch {BATCH}, {steps} steps per epoch, "
                      f"Wide&Deep bottoms (linear + MLP {HIDDEN} -> {EMBED}), linear top, Adagrad lr {LR}",
           "cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "jax": jax.__version__,
           "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "repeats": args.repeats,
           "load_avg_1m_before": load_before, "load_avg_1m_after": os.getloadavg()[0], "note": args.note,
           "bytes_per_epoch": {"ours": ours_bytes, "peer": peer_bytes_epoch, "agree": ours_bytes == peer_bytes_epoch},
           "first_epoch_mean_loss": first_loss,
           "results": {n: {"median_epoch_s": med[n], "steps_per_s": steps / med[n], "ratio_vs_peer": med["peer"] / med[n],
                           "first_epoch_s_incl_compile": compile_s[n], "all_s": times[n]} for n in names}}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "vfl.json"), "w") as f:
        json.dump(res, f, indent=2)
    md = markdown(res)
    with open(os.path.join(args.out, "vfl.md"), "w") as f:
        f.write(md)
    print(md)
    if not res["bytes_per_epoch"]["agree"]:
        raise SystemExit(f"byte counts differ: {res['bytes_per_epoch']}")


def markdown(res: dict) -> str:
    b = res["bytes_per_epoch"]
    rows = ["## Vertical FL: a vanilla VFL epoch, lib.vfl vs two-party PyTorch", "",
            f"Generated by `benchmarks/vfl.py` from `vfl.json`. {res['setting']}. Host CPU: {res['cpu_model']}, "
            f"{res['cpu_count']} cores (shared with other jobs); load average {res['load_avg_1m_before']:.2f} before, "
            f"{res['load_avg_1m_after']:.2f} after; JAX {res['jax']}, PyTorch {res['torch']} "
            f"({res['torch_threads']} threads); median of {res['repeats']} interleaved epochs after a warm-up epoch. "
            "Ratio = peer epoch time / ours.", "",
            f"Bytes on the wire per epoch: ours {b['ours']:,}, peer {b['peer']:,} ("
            + ("equal" if b["agree"] else "DIFFERENT") + "). Mean loss of the first epoch (same initial weights and "
            "batches): " + ", ".join(f"{k} {v:.5f}" for k, v in res["first_epoch_mean_loss"].items()) + ".", "",
            "| implementation | epoch (s) | steps/s | vs peer | first epoch incl. compile (s) |", "|---|---|---|---|---|"]
    for n, r in res["results"].items():
        rows.append(f"| {LABELS[n]} | {r['median_epoch_s']:.4f} | {r['steps_per_s']:.0f} | **{r['ratio_vs_peer']:.2f}x** | "
                    f"{r['first_epoch_s_incl_compile']:.2f} |")
    if res["note"]:
        rows += ["", res["note"]]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    main()
