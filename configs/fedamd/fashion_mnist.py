"""FedAMD vs FedAvg vs SCAFFOLD on Fashion-MNIST with the reference code's defaults.

Reference defaults (authors' code): 20 clients, 10 per round, batch 64, lr 0.01, server lr 1,
K = 10 local steps, anchor probability 0.2, Dirichlet 0.1 labels, LeNet. Here: the MLP
784-200-10 instead of LeNet (lib's small CNN ran 20 rounds in over 2 minutes on the shared
2-core CPU, too slow for the time we had), 200 rounds, 1 seed.

    python launch/sweep.py --project fedamd --config configs/fedamd/fashion_mnist.py \\
        --workdir runs/fedamd_fmnist --results projects/fedamd/results/fashion_mnist \\
        --grid method=fedavg,scaffold,fedamd

Accuracies and wall times: projects/fedamd/results/fashion_mnist/*.json and the README table.
"""

from configs.fedamd import mnist


def get_config(arg=None):
    c = mnist.get_config(arg)
    c.dataset = "fashion_mnist"
    return c
