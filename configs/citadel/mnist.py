"""Secure vs plain aggregation on real MNIST: the same model, and what masking costs per round.

20 clients, Dirichlet(0.5) labels, 10 per round (uniform), MLP 784-200-10, 5 local SGD steps of
batch 32 at lr 0.05, 100 rounds; secure_fedavg flat, hierarchical (2 groups), and with 2
dropouts per round recovered, against fedavg on the same seed:

    python launch/sweep.py --project citadel --config configs/citadel/mnist.py \\
        --workdir runs/citadel_mnist --results projects/citadel/results/mnist \\
        --grid aggregator=fedavg,secure_fedavg
    # then, with the same --workdir/--results: --grid secagg.groups=2 and --grid secagg.dropouts=2

Wall time and accuracies: projects/citadel/results/mnist/*.json and the README table.
"""

from configs.citadel import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.num_clients = 20
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.5
    c.clients_per_round = 10
    c.model.hidden = (200,)
    c.local.batch_size = 32
    c.local.lr = 0.05
    c.total = 100
    c.log_every = 20
    c.eval_every = 20
    c.checkpoint_every = 50
    c.eval_batch_size = 2000
    c.secagg.groups = 1
    c.mesh = (("clients", 1),)
    return c
