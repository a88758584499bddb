"""Adaptive SGD vs static equal batches vs plain asynchronous SGD on Fashion-MNIST, 4 simulated GPUs
of speeds F-80 (the fastest 5x the slowest: 1, 1.36, 2.14, 5 relative speeds).

Paper (Ma et al., IPDPSW 2022): multi-GPU servers, extreme multi-label sparse data sets, time to
accuracy against four other systems. Here (2 shared CPU cores): an MLP 784-128-10, global batch 128
per step (static: 32 per worker; adaptive: 13/18/29/68 by speed), 4 local SGD steps between merges
(or per asynchronous upload), lr 0.05 at batch 32 (scaled linearly with a worker's batch), the
slowest worker 2 ms per sample, 100 MB/s links with 10 ms latency, 60 virtual seconds.

    python -m projects.adaptive_sgd.report --run   # every method x seeds 0-1 (resumable), then the README table

or one: python -m projects.adaptive_sgd.main --config=configs/adaptive_sgd/fashion_mnist.py:adaptive_s0 --workdir=runs/a
`get_config(arg)`, arg = "<method>[_s<seed>]", method in VARIANTS.
"""

from configs.adaptive_sgd import default

VARIANTS = {"adaptive": ("adaptive", "normalised"), "adaptive_equal_merge": ("adaptive", "equal"),
            "static": ("static", "normalised"), "async": ("async", "normalised")}


def get_config(arg=None):
    arg = arg or "adaptive"
    name, _, seed = arg.rpartition("_s") if "_s" in arg and arg.rsplit("_s", 1)[1].isdigit() else (arg, "", "0")
    if name not in VARIANTS:
        raise ValueError(f"unknown config arg {arg!r}: <{'|'.join(VARIANTS)}>[_s<seed>]")
    c = default.get_config(VARIANTS[name][0])
    c.merge = VARIANTS[name][1]
    c.seed = int(seed)
    c.dataset = "fashion_mnist"
    c.model.hidden = (128,)
    c.global_batch = 128
    c.local_steps = 4
    c.lr = 0.05
    c.clock.update({"step_time": 0.002, "bandwidth": 1e8, "latency": 0.01, "time_budget": 60.0,
                    "eval_every_time": 3.0})
    c.eval_batch_size = 2000
    c.log_every = 100
    c.checkpoint_every = 500
    return c
