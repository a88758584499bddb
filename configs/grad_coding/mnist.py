"""Uncoded vs gradient coding vs M-SGC on MNIST, 16 simulated workers with Gilbert-Elliott stragglers.

Paper (Krishnan, Ebrahimi, Khisti, ICLR 2023): 256 AWS Lambda workers, several models trained
concurrently, naturally occurring stragglers; M-SGC 16 % faster than GC. Here (2 shared CPU cores):
16 workers on a virtual clock; multinomial logistic regression (784-10); M = T + 1 = 4 models with
learning rates 0.1 / 0.2 / 0.4 / 0.8 trained concurrently; a job = one gradient on 1,024 samples
(16 workers x K = 8 units x 8 samples); 800 jobs (200 steps per model). Per worker 2 ms per sample,
20 ms latency per message, 100 MB/s. Gilbert-Elliott stragglers, per worker and round: good -> bad
0.02, bad -> good 0.5 (mean burst 2 rounds, 3.8 % of worker-rounds bad), 10x slower while bad.
Codes: cyclic repetition (tolerates any s stragglers, like the paper's baseline); GC s = 2; M-SGC
(B, W, lambda) = (2, 3, 2), T = 3: B = 2 the mean burst, W = B + 1 the shortest window allowed,
lambda = 2 covers about 87 % of 3-round windows (expected distinct stragglers 1.2), GC s = lambda.

Measured (seeds 0-2, 2 shared CPU cores, about 10 s wall per run): 800 jobs in 385.8 virtual s with
M-SGC against 412.3 with GC (6.4 % less), 544.2 uncoded, 501.6 SR-SGC; 91.35 % test accuracy (best
model) in every mode.

    python -m projects.grad_coding.report --run   # the variants x seeds 0-2 (resumable), then the README

or one: python -m projects.grad_coding.main --config=configs/grad_coding/mnist.py:sgc_s0 --workdir=runs/g
`get_config(arg)`, arg = "<variant>[_s<seed>]", variant in VARIANTS.
"""

from configs.grad_coding import default

# variant -> (mode, M-SGC master)
VARIANTS = {"uncoded": ("uncoded", "design"), "gc": ("gc", "design"), "sgc": ("sgc", "design"),
            "sgc_feasible": ("sgc", "feasible"), "srsgc": ("srsgc", "design")}


def get_config(arg=None):
    arg = arg or "sgc"
    name, _, seed = arg.rpartition("_s") if "_s" in arg and arg.rsplit("_s", 1)[1].isdigit() else (arg, "", "0")
    if name not in VARIANTS:
        raise ValueError(f"unknown config arg {arg!r}: <{'|'.join(VARIANTS)}>[_s<seed>]")
    mode, master = VARIANTS[name]
    c = default.get_config(mode)
    c.seed = int(seed)
    c.dataset = "mnist"
    c.model.hidden = ()
    c.num_workers = 16
    c.lrs = (0.1, 0.2, 0.4, 0.8)
    c.num_jobs = 800
    c.unit_size = 8
    c.gc.update({"s": 2, "code": "cyclic"})
    c.sgc.update({"B": 2, "W": 3, "lam": 2, "code": "cyclic", "tol": 0.5, "master": master})
    c.clock.update({"speed": "constant", "step_time": 0.002, "bandwidth": 1e8, "latency": 0.02,
                    "straggler": "gilbert_elliott", "ge_p_good_bad": 0.02, "ge_p_bad_good": 0.5,
                    "straggler_slowdown": 10.0})
    c.eval_batch_size = 5000
    c.eval_every = 40
    c.log_every = 100
    c.checkpoint_every = 400
    return c
