"""Backdoor ASR vs heterogeneity on MNIST (data root: mnist/mnist.npz), the base of the sweep
in projects/backdoor_heterogeneity/sweep.py (each run overrides a few keys of this one).

50 clients, Dirichlet(alpha) label split (arg: alpha, default 0.5; "iid" for an IID split),
10 sampled per round, MLP 64, 10 local SGD steps of 32 (lr 0.05), 40 rounds. 5 attackers (10 %)
stamp a 4x4 white square in the bottom-right corner on half of every batch and relabel it to 0.

python -m projects.backdoor_heterogeneity.main --config=configs/backdoor_heterogeneity/mnist.py:0.1 \\
    --workdir=runs/bd_mnist --config.data_dir=/path/to/data
Hardware and wall time of each run: in its results JSON (one shared 2-core CPU, ~1 min a run).
"""

from ml_collections import ConfigDict

from configs.backdoor_heterogeneity import default


def get_config(arg=None):
    c = default.get_config()
    c.dataset = "mnist"
    c.num_clients = 50
    c.clients_per_round = 10
    if arg == "iid":
        c.partition = "iid"
    else:
        c.partition = "dirichlet"
        c.dirichlet_alpha = float(arg) if arg else 0.5
    c.model = ConfigDict({"name": "mlp", "hidden": (64,)})
    c.local = ConfigDict({"batch_size": 32, "mode": "steps", "num_steps": 10, "num_epochs": 1,
                          "optimizer": "sgd", "momentum": 0.0, "lr": 0.05, "prox_mu": 0.0})
    c.byzantine_fraction = 0.1
    c.backdoor.trigger = ConfigDict({"row": 23, "col": 23, "size": 4, "value": 1.0})
    c.backdoor.target = 0
    c.backdoor.boost = 1.0
    c.total = 40
    c.log_every = 10
    c.eval_every = 5
    c.checkpoint_every = 10
    return c
