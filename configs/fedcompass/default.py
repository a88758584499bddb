"""Tiny FedCompass run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

    python -m projects.fedcompass.main --config=configs/fedcompass/default.py --workdir=runs/fedcompass_demo

`get_config(arg)`, arg = "<variant>[_s<seed>]" (VARIANTS; default fedcompass).
"""

from lib.fl import tasks
from lib.fl.clock import run as clock_run

# variant -> (schedule, clock overrides)
VARIANTS = {
    # the paper's staleness weight (FedAsync's polynomial, decreasing in u)
    "fedcompass": ("fedcompass", {"staleness": "polynomial"}),
    # the FedCompass reference code's (u+1)^+a, which grows with staleness
    "fedcompass-growing": ("fedcompass", {"staleness": "polynomial_growing"}),
    "fedasync": ("fedasync", {"staleness": "polynomial"}),
    "fedbuff": ("fedbuff", {"staleness": "polynomial"}),
    "sync": ("sync", {}),
}


def get_config(arg=None):
    c = tasks.default_config("fedcompass")
    c.total = None  # the run's length is config.clock.time_budget (virtual seconds)
    c.num_clients = 8
    c.local.num_steps = 6  # the baselines' local steps (FedCompass assigns q_min..q_max itself)
    c.clock = clock_run.default_clock()
    c.clock.speed = "lognormal"
    c.clock.lognormal_sigma = 0.6
    c.clock.step_time = 0.05
    c.clock.q_min, c.clock.q_max = 2, 6
    c.clock.alpha = 0.9  # APPFL's default mixing rate
    c.clock.staleness_a = 0.5
    c.clock.buffer_size = 3
    c.clock.time_budget = 3.0
    c.clock.eval_every_time = 1.0
    c.clock.max_batch = 8
    c.checkpoint_every = 5
    c.log_every = 5
    return clock_run.apply_variant(c, arg, VARIANTS, "fedcompass")
