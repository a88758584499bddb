"""FedLD vs FedAvg / FedProx on MNIST with Dirichlet label skew (alpha 1.0 / 0.5 / 0.1).

Paper (Zeng et al., MICCAI 2024): retinal and chest X-ray classification, ResNet, Dirichlet label
skew; MNIST is not among its data sets (this is the issue's check). Here (2 shared CPU cores):
all of MNIST split over 20 clients by Dirichlet(alpha) over labels, every client in every round
(the authors' aggregate assumes all clients), MLP 784-64-10, 10 local SGD steps (batch 32,
lr 0.05, momentum 0.5), 150 rounds, evaluation every 3 rounds (the stability column is the spread
of the last 10 evaluations). FedProx mu = 0.01; FedLD lambda_m = 0.1, k = floor(0.8 m). Ablations: fedld-agg (FedLD's
aggregation with lambda_m = 0), fedld-loss (the margin loss with the plain mean).

`get_config(arg)`, arg = "<method>_a<alpha>_s<seed>" (e.g. "fedld_a0.1_s0"; default fedld_a0.1_s0).

    python -m projects.fedld.report --run   # methods x alphas x seeds (resumable), then the README table

or one: python -m projects.fedld.main --config=configs/fedld/mnist.py:fedprox_a0.5_s1 --workdir=runs/ld
Wall time and accuracies: projects/fedld/results/mnist.json and the README table.
"""

from configs.fedld import default
from lib.config import ConfigError

# fedld-agg / fedld-loss: the ablations (principal aggregation alone: lambda_m = 0; the margin
# loss alone: the plain mean)
METHODS = ("fedavg", "fedprox", "fedld", "fedld-agg", "fedld-loss")
PROX_MU = 0.01


def parse(arg, default_arg):
    """"<method>[_a<alpha>][_s<seed>]" -> (method, alpha or None, seed)."""
    parts = (arg or default_arg).split("_")
    method, alpha, seed = parts[0], None, 0
    for p in parts[1:]:
        if p[:1] == "a":
            alpha = float(p[1:])
        elif p[:1] == "s":
            seed = int(p[1:])
        else:
            raise ConfigError(f"config argument {arg!r}: expected <method>[_a<alpha>][_s<seed>]")
    if method not in METHODS:
        raise ConfigError(f"config argument {arg!r}: method {method!r} is not one of {METHODS}")
    return method, alpha, seed


def set_method(c, method):
    c.method = "fedld" if method.startswith("fedld") else method
    c.local.prox_mu = PROX_MU if method == "fedprox" else 0.0
    if method == "fedld-agg":
        c.fedld.lambda_m = 0.0
    if method == "fedld-loss":
        c.fedld.principal = False
    return c


def get_config(arg=None):
    method, alpha, seed = parse(arg, "fedld_a0.1_s0")
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.1 if alpha is None else alpha
    c.seed = seed
    c.num_clients = 20
    c.clients_per_round = 20
    c.model.hidden = (64,)
    c.local.batch_size = 32
    c.local.num_steps = 10
    c.local.lr = 0.05
    c.local.momentum = 0.5
    c.total = 150
    c.log_every = 25
    c.eval_every = 3
    c.checkpoint_every = 75
    c.eval_batch_size = 2500
    c.mesh = (("clients", 1),)
    c.stability_window = 10  # evaluations
    return set_method(c, method)
