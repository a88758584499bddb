"""The robustness study on real MNIST, in the setting of configs/flag_aggregator/mnist.py: 20
clients, Dirichlet(0.5) labels, all clients every round, MLP 784-64-10, 5 local SGD steps
(batch 32, lr 0.1) per round, 20 rounds, 20 % Byzantine (4 clients), one seed.

    nice -n 10 python -m projects.byzantine_bench.grid --config configs/byzantine_bench/mnist.py \\
        --results projects/byzantine_bench/results/mnist
"""

from configs.byzantine_bench import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.num_clients = 20
    c.clients_per_round = 20
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.5
    c.model.hidden = (64,)
    c.local.batch_size = 32
    c.local.lr = 0.1
    c.byzantine_fraction = 0.2
    c.total = 20
    c.log_every = 10
    c.eval_every = 10
    c.checkpoint_every = 10
    c.eval_batch_size = 2000
    c.mesh = (("clients", 1),)
    return c
