"""Uncoded vs gradient coding vs M-SGC on MNIST, 32 simulated workers with Gilbert-Elliott stragglers.

Paper (Krishnan, Ebrahimi, Khisti, ICLR 2023): 256 AWS Lambda workers, several CNNs on MNIST trained
concurrently, naturally occurring stragglers; M-SGC 16 % faster than GC. Here (2 shared CPU cores):
32 workers on a virtual clock, multinomial logistic regression (784-10), M = T + 1 = 4 models with
learning rates 0.05-0.4 trained concurrently, a job = one full-batch gradient of 1,024 samples
(32 workers x K = 16 units x 2 samples); per worker 2 ms per sample, 20 ms latency per message,
100 MB/s; Gilbert-Elliott stragglers (good -> bad 0.03, bad -> good 0.5 per round, 5x slower while bad).

    python -m projects.grad_coding.report --run   # the modes x seeds (resumable), then the README table

or one: python -m projects.grad_coding.main --config=configs/grad_coding/mnist.py:sgc_s0 --workdir=runs/g
`get_config(arg)`, arg = "<variant>[_s<seed>]", variant in VARIANTS.
"""

from configs.grad_coding import default

# variant -> (mode, overrides)
VARIANTS = {"uncoded": ("uncoded", {}), "gc": ("gc", {}), "sgc": ("sgc", {})}


def get_config(arg=None):
    arg = arg or "sgc"
    name, _, seed = arg.rpartition("_s") if "_s" in arg and arg.rsplit("_s", 1)[1].isdigit() else (arg, "", "0")
    if name not in VARIANTS:
        raise ValueError(f"unknown config arg {arg!r}: <{'|'.join(VARIANTS)}>[_s<seed>]")
    mode, over = VARIANTS[name]
    c = default.get_config(mode)
    c.seed = int(seed)
    c.dataset = "mnist"
    c.model.hidden = ()
    c.num_workers = 32
    c.lrs = (0.05, 0.1, 0.2, 0.4)
    c.num_jobs = 400
    c.unit_size = 2
    c.gc = {"s": 3, "code": "cyclic"}
    c.sgc.update({"B": 2, "W": 3, "lam": 6, "code": "cyclic", "tol": 0.5})
    c.clock.update({"speed": "constant", "step_time": 0.002, "bandwidth": 1e8, "latency": 0.02,
                    "straggler": "gilbert_elliott", "ge_p_good_bad": 0.03, "ge_p_bad_good": 0.5,
                    "straggler_slowdown": 5.0})
    c.eval_batch_size = 5000
    c.eval_every = 40
    c.log_every = 100
    c.checkpoint_every = 200
    for k, v in over.items():
        c[k] = v
    return c
