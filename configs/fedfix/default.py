"""Tiny FedFix run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

    python -m projects.fedfix.main --config=configs/fedfix/default.py --workdir=runs/fedfix_demo

`get_config(arg)`, arg = "<variant>[_s<seed>]": the variant picks the schedule (VARIANTS; default
fedfix), the suffix the seed (e.g. "fedbuff_s2").
"""

from lib.fl import tasks
from lib.fl.clock import run as clock_run

# variant -> (schedule, clock overrides)
VARIANTS = {
    "sync": ("sync", {}),
    "fedasync": ("fedasync", {"alpha": 0.6, "staleness": "polynomial"}),  # Xie et al.'s mixing, a = 0.5
    "async": ("fedbuff", {"buffer_size": 1}),  # Fraboni et al.'s asynchronous FedAvg: x += Delta_i per arrival
    "fedbuff": ("fedbuff", {}),
    "fedfix": ("fedfix", {}),
}


def get_config(arg=None):
    c = tasks.default_config("fedfix")
    c.total = None  # the run's length is config.clock.time_budget (virtual seconds)
    c.num_clients = 12
    c.local.num_steps = 5
    c.clock = clock_run.default_clock()
    c.clock.speed = "fedfix"  # F-X: tau_i = 1 - i (X/100)/(M-1) times the slowest client's step time
    c.clock.speed_x = 80.0
    c.clock.step_time = 0.2  # slowest client: 0.2 s per local step, 1 s per task
    c.clock.time_budget = 6.0
    c.clock.eval_every_time = 2.0
    c.clock.dt = 0.5  # FedFix-0.5: half the slowest client's task time
    c.clock.buffer_size = 4
    c.clock.max_batch = 8
    c.checkpoint_every = 4
    c.log_every = 5
    return clock_run.apply_variant(c, arg, VARIANTS, "fedfix")
