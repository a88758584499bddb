"""FedFix vs sync FedAvg, asynchronous FedAvg (Fraboni's d_i = 1, and Xie's FedAsync) and FedBuff-c
on MNIST, Dirichlet 0.1, speed scenario F-80 (the fastest client is 5x faster than the slowest).

Paper (Fraboni et al., arXiv 2206.10189): M = 10-30 clients, B 64, lr_g 1, FedFix-{0.2,0.5,0.8},
FedBuff-{5,10}. Here (2 shared CPU cores): 50 clients on all of MNIST, MLP 784-64-10,
5 local SGD steps of batch 32 at lr 0.05, the slowest client 1 s per step (5 s per task), a
budget of 150 virtual seconds, server lr 1. FedFix-f aggregates every dt = f x 5 s.

    python -m projects.fedfix.report --run   # every variant x seeds 0-2 (resumable), then the README table

or one: python -m projects.fedfix.main --config=configs/fedfix/mnist.py:fedfix-0.5_s0 --workdir=runs/ff
Wall time: 10-20 s per run on 2 shared CPU cores (projects/fedfix/results/mnist.json).
"""

from configs.fedfix import default
from lib.fl.clock import run as clock_run

VARIANTS = {
    **{k: v for k, v in default.VARIANTS.items() if k not in ("fedbuff", "fedfix")},
    "fedbuff-5": ("fedbuff", {"buffer_size": 5}),
    "fedbuff-10": ("fedbuff", {"buffer_size": 10}),
    "fedfix-0.2": ("fedfix", {"dt": 1.0}),
    "fedfix-0.5": ("fedfix", {"dt": 2.5}),
    "fedfix-0.8": ("fedfix", {"dt": 4.0}),
}


def get_config(arg=None):
    c = default.get_config("fedfix")
    c.dataset = "mnist"
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.1
    c.num_clients = 50
    c.model.hidden = (64,)
    c.local.batch_size = 32
    c.local.num_steps = 5
    c.local.lr = 0.05
    c.clock.step_time = 1.0
    c.clock.time_budget = 150.0
    c.clock.eval_every_time = 5.0
    c.clock.max_batch = 64
    c.eval_batch_size = 2000
    c.checkpoint_every = 500
    c.log_every = 50
    c.mesh = (("clients", 1),)
    return clock_run.apply_variant(c, arg, VARIANTS, "fedfix-0.5")
