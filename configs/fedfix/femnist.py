"""FedFix vs sync FedAvg, asynchronous FedAvg (Fraboni's d_i = 1), FedAsync and FedBuff-10 on
FEMNIST (LEAF), writers as clients, speed scenario F-80 (the fastest client is 5x faster).

Paper (Fraboni et al., arXiv 2206.10189): M = 10-30 clients, CIFAR-10/100, Shakespeare and MNIST;
FEMNIST is not among its data sets (this is the issue's check). Here (2 shared CPU cores): the
first 50 of the 105 writers with train data under $TESSERA_DATA_DIR/femnist (natural partition:
each writer's own labels and style), tested on those writers' test images; MLP 784-128-62 (the
LEAF CNN is too slow for this sweep on 2 shared CPU cores), 5 local SGD steps of batch 32 at
lr 0.1, the slowest client 1 s per step (5 s per task), a budget of 300 virtual seconds, server
lr 1. FedFix-f aggregates every dt = f x 5 s. Speed order = writer order (client 0 slowest).

    python -m projects.fedfix.report --run-femnist   # every variant x seeds 0-1 (resumable), then the tables

or one: python -m projects.fedfix.main --config=configs/fedfix/femnist.py:fedfix-0.5_s0 --workdir=runs/ff
Wall time: projects/fedfix/results/femnist.json and the README table.
"""

from configs.fedfix import default
from lib.fl.clock import run as clock_run

VARIANTS = {
    **{k: v for k, v in default.VARIANTS.items() if k not in ("fedbuff", "fedfix")},
    "fedbuff-10": ("fedbuff", {"buffer_size": 10}),
    "fedfix-0.2": ("fedfix", {"dt": 1.0}),
    "fedfix-0.5": ("fedfix", {"dt": 2.5}),
}


def get_config(arg=None):
    c = default.get_config("fedfix")
    c.dataset = "femnist"
    c.partition = "natural"
    c.num_clients = 50
    c.model.hidden = (128,)
    c.local.batch_size = 32
    c.local.num_steps = 5
    c.local.lr = 0.1
    c.clock.step_time = 1.0
    c.clock.time_budget = 300.0
    c.clock.eval_every_time = 10.0
    c.clock.max_batch = 64
    c.eval_batch_size = 1000
    c.checkpoint_every = 1000
    c.log_every = 100
    c.mesh = (("clients", 1),)
    return clock_run.apply_variant(c, arg, VARIANTS, "fedfix-0.5")
