"""Tiny gossip-learning run with variance-corrected averaging on FedProx Synthetic(1, 1) (generated,
ships with the code): tests and demo.

python -m projects.vanishing_variance.main --config=configs/vanishing_variance/default.py --workdir=runs/vv_demo
python -m projects.vanishing_variance.main --config=configs/vanishing_variance/default.py:merge=average \\
    --workdir=runs/vv_demo_avg
"""

from ml_collections import ConfigDict, config_dict

from lib import config as config_lib


def get_config(arg=None):
    a = config_lib.parse_arg(arg, method="gossip", merge="corrected", independent_init=True, seed=0)
    c = ConfigDict()
    c.project = "vanishing_variance"
    c.seed = a.seed
    c.method = a.method  # gossip (gossip learning) | fl (fixed server, the reference)
    c.merge = a.merge  # average (plain gossip learning) | corrected (variance-corrected averaging)
    c.independent_init = a.independent_init  # every node draws its own initial model (uncorrelated)

    c.dataset = "synthetic"  # synthetic | mnist | fashion_mnist | femnist
    c.data_dir = config_dict.placeholder(str)
    c.num_nodes = 16
    c.partition = "natural"  # natural | iid | dirichlet | shards
    c.dirichlet_alpha = 0.5
    c.shards_per_client = 2
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.model = ConfigDict({"name": "mlp", "hidden": (32, 32)})
    c.param_dtype = "float32"
    c.compute_dtype = "float32"

    c.sample_size = 4  # FL reference: clients per round
    c.node_batch = "auto"  # nodes stepped at once: 'auto' (CPU: one after another), 1, or None (all vmapped)
    c.local = ConfigDict({"batch_size": 16, "num_steps": 5, "lr": 0.05})

    c.total = 12  # rounds
    c.eval_batch_size = 1000
    c.test_subset = 0  # evaluate on N test samples drawn with the seed (0: all)
    c.log_every = 2
    c.eval_every = 4
    c.checkpoint_every = 4
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
