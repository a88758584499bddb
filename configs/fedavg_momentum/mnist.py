"""FedAvg-M / SCAFFOLD-M vs FedAvg / SCAFFOLD on real MNIST under strong label heterogeneity.

Paper setting (Cheng et al., ICLR 2024): CIFAR-10, Dirichlet splits, MLP / ResNet-18, beta in
{0.1, 0.2, ...}. Here (2 shared CPU cores): MNIST, 50 clients with Dirichlet(0.1) labels,
10 per round (uniform sampling: partial participation), MLP 784-200-10, K = 10 local SGD
steps of batch 32 at lr 0.05, server lr 1, beta = 0.2, 150 rounds, 1 seed.

    python launch/sweep.py --project fedavg_momentum --config configs/fedavg_momentum/mnist.py \\
        --workdir runs/fedavg_momentum_mnist --results projects/fedavg_momentum/results/mnist \\
        --grid method=fedavg,fedavg_m,scaffold,scaffold_m

Accuracies and wall times: projects/fedavg_momentum/results/mnist/*.json and the README table.
"""

from configs.fedavg_momentum import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.num_clients = 50
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.1
    c.clients_per_round = 10
    c.model.hidden = (200,)
    c.local.batch_size = 32
    c.local.num_steps = 10
    c.local.lr = 0.05
    c.beta = 0.2
    c.total = 150
    c.log_every = 25
    c.eval_every = 10
    c.checkpoint_every = 50
    c.eval_batch_size = 2000
    c.mesh = (("clients", 1),)
    return c
