"""FedStale on real MNIST: beta in {0, 0.5, 1}, participation p = 0.5, heterogeneous labels.

Paper setup (Rodio & Neglia, arXiv 2405.04171): MNIST, 24 clients on 20 % of the data, CNN, batch 128, SGD
5e-3, 1 local step, 4000 rounds; heterogeneity by label swapping (recipe not published).
Here (2 shared CPU cores): 24 clients on all of MNIST, heterogeneity from the label
partition (shards: 2 labels per client = strong; iid = none), Bernoulli p = 0.5,
MLP 784-64-10, 5 local SGD steps of batch 16 at lr 0.05, 300 rounds.

    python launch/sweep.py --project fedstale --config configs/fedstale/mnist.py \\
        --workdir runs/fedstale_mnist --results projects/fedstale/results/mnist \\
        --grid partition=shards,iid --grid beta=0.0,0.5,1.0

Wall time and accuracies: projects/fedstale/results/mnist/*.json and the README table.
"""

from configs.fedstale import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.num_clients = 24
    c.partition = "shards"
    c.model.hidden = (64,)
    c.local.lr = 0.05
    c.total = 300
    c.log_every = 50
    c.eval_every = 25
    c.checkpoint_every = 100
    c.eval_batch_size = 2000
    c.mesh = (("clients", 1),)
    return c
