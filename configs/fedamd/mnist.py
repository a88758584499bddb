"""FedAMD vs FedAvg and SCAFFOLD on real MNIST with the reference code's defaults.

Reference defaults (authors' code): 20 clients, 10 per round, batch 64, lr 0.01, server lr 1,
K = 10 local steps, anchor probability 0.2, 200 rounds, Dirichlet 0.1 labels; Fashion-MNIST
with LeNet in the paper. Here: MNIST, MLP 784-200-10, otherwise the same, 1 seed.

    python launch/sweep.py --project fedamd --config configs/fedamd/mnist.py \\
        --workdir runs/fedamd_mnist --results projects/fedamd/results/mnist --grid method=fedamd,fedavg,scaffold

Accuracies and wall times: projects/fedamd/results/mnist/*.json and the README table.
"""

from configs.fedamd import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.num_clients = 20
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.1
    c.clients_per_round = 10
    c.model.hidden = (200,)
    c.local.batch_size = 64
    c.local.num_steps = 10
    c.local.lr = 0.01
    c.anchor_prob = 0.2
    c.total = 200
    c.log_every = 25
    c.eval_every = 10
    c.checkpoint_every = 50
    c.eval_batch_size = 2000
    c.mesh = (("clients", 1),)
    return c
