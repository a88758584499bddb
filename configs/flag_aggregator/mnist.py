"""Robustness table on real MNIST: 20 clients, Dirichlet(0.5) labels, all clients every round.

Paper setup (Almasi et al., ICLR 2024): parameter server (Garfield++), ResNet-18 on CIFAR-10 / MNIST,
7-60 workers, f in {1, 2, 3}, SGD lr 0.2 momentum 0.9, ~1050 iterations. Issue 3 asks for
every rule x every attack x fraction {0, 10, 20, 30 %}. Here (2 CPU cores shared with other
jobs): an MLP 784-64-10, 20 clients x 5 local SGD steps (batch 32, lr 0.1) per round,
20 rounds, one seed. The full grid (144 cells, one compile, projects/flag_aggregator/fast.py)
took the CPU time printed under its table in projects/flag_aggregator/README.md.

    nice -n 10 python -m projects.flag_aggregator.table --config configs/flag_aggregator/mnist.py \\
        --results projects/flag_aggregator/results/mnist
"""

from configs.flag_aggregator import default


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
    c.total = 20
    c.log_every = 10
    c.eval_every = 10
    c.checkpoint_every = 10
    c.eval_batch_size = 2000
    c.mesh = (("clients", 1),)
    return c
