"""FedCompass vs FedAsync, FedBuff and sync FedAvg on MNIST, Dirichlet 0.1, heterogeneous client speeds.

Paper (Li et al., "FedCompass", ICLR 2024): cross-silo non-IID MNIST/CIFAR-10 and FLamby, clients
of heterogeneous speeds; the APPFL example uses Adam 1e-3, batch 64, Q in [20, 100], alpha 0.9,
staleness (u+1)^-0.5, speed momentum 0.9, latest-arrival factor 1.5.
Here (2 shared CPU cores): 20 clients on all of MNIST, MLP 784-64-10, local Adam 1e-3 batch 64,
log-normal step times (median 0.1 s, sigma 0.7: the slowest ~7x the fastest), Q in [20, 100]
(the baselines run 100 local steps), FedBuff c = 5, a budget of 400 virtual seconds.

    python -m projects.fedcompass.report --run   # every variant x seeds 0-2, then the README table
"""

from configs.fedcompass import default
from lib.fl.clock import run as clock_run


def get_config(arg=None):
    c = default.get_config("fedcompass")
    c.dataset = "mnist"
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.1
    c.num_clients = 20
    c.model.hidden = (64,)
    c.local.batch_size = 64
    c.local.optimizer = "adam"
    c.local.lr = 1e-3
    c.local.num_steps = 100
    c.clock.step_time = 0.1
    c.clock.lognormal_sigma = 0.7
    c.clock.q_min, c.clock.q_max = 20, 100
    c.clock.buffer_size = 5
    c.clock.time_budget = 400.0
    c.clock.eval_every_time = 10.0
    c.clock.max_batch = 32
    c.eval_batch_size = 2000
    c.checkpoint_every = 500
    c.log_every = 50
    c.mesh = (("clients", 1),)
    return clock_run.apply_variant(c, arg, default.VARIANTS, "fedcompass")
