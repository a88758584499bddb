"""FRL vs FedAvg / trimmed mean / Multi-Krum on MNIST with 0/10/20 % malicious clients.

Paper setting (Mozaffari et al., USENIX Security 2023, authors' code): 1000 clients, 25 per
round, Dirichlet(1.0), LeNet (MNIST) / Conv8 (CIFAR-10), 2000 rounds, 5 local epochs of batch 8.
Here (2 shared CPU cores): 20 clients with Dirichlet(1.0) labels, all in every round, MLP
784-100-10 (FRL: no biases, frozen signed weights, 50 % of each layer's edges kept), 10 local
SGD steps of batch 32 with momentum 0.9 (lr 0.4 for FRL's scores as the authors use, 0.05 for
the baselines' weights), 40 rounds, 1 seed. Malicious FRL clients send the reversed collective
ranking; the baselines' malicious clients run min-max (Shejwalkar & Houmansadr, unit
perturbation; lib.fl.attacks), the AGR-agnostic attack of the FRL authors' previous paper.

    python launch/sweep.py --project frl --config configs/frl/mnist.py --workdir runs/frl_mnist \\
        --results projects/frl/results/mnist --grid method=frl --grid byzantine_fraction=0.0,0.1,0.2 \\
        --set local.lr=0.4
    python launch/sweep.py --project frl --config configs/frl/mnist.py --workdir runs/frl_mnist \\
        --results projects/frl/results/mnist --grid method=fedavg,trimmed_mean,multi_krum \\
        --grid byzantine_fraction=0.0,0.1,0.2

Accuracies, upload bits and wall times: projects/frl/results/mnist/*.json and the README table.
"""

from configs.frl import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.num_clients = 20
    c.clients_per_round = 20
    c.partition = "dirichlet"
    c.dirichlet_alpha = 1.0
    c.model.hidden = (100,)
    c.local.batch_size = 32
    c.local.num_steps = 10
    c.local.momentum = 0.9
    c.local.lr = 0.05
    c.total = 40
    c.log_every = 10
    c.eval_every = 10
    c.checkpoint_every = 20
    c.eval_batch_size = 2000
    c.mesh = (("clients", 1),)
    return c
