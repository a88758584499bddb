"""Tiny MoDeST run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

python -m projects.modest.main --config=configs/modest/default.py --workdir=runs/modest_demo
python -m projects.modest.main --config=configs/modest/default.py:method=dpsgd --workdir=runs/modest_demo_dpsgd
python -m projects.modest.main --config=configs/modest/default.py:unresponsive=0.5 --workdir=runs/modest_demo_u50
"""

from ml_collections import ConfigDict, config_dict

from lib import config as config_lib


def get_config(arg=None):
    a = config_lib.parse_arg(arg, method="modest", unresponsive=0.0, seed=0)
    c = ConfigDict()
    c.project = "modest"
    c.seed = a.seed
    c.method = a.method  # modest | fl (fixed server) | dpsgd (k-regular graph) | gossip (gossip learning)

    c.dataset = "synthetic"  # synthetic | mnist | fashion_mnist | femnist
    c.data_dir = config_dict.placeholder(str)
    c.num_nodes = 16
    c.partition = "natural"  # natural | iid | dirichlet | shards
    c.dirichlet_alpha = 0.3
    c.shards_per_client = 2
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.model = ConfigDict({"name": "mlp", "hidden": (32,)})
    c.param_dtype = "float32"
    c.compute_dtype = "float32"

    # MoDeST: s trainers, a aggregators per round, aggregators average the first ceil(sf * s) updates
    c.sampling = ConfigDict({"sample_size": 4, "num_aggregators": 1, "success_fraction": 0.8})
    c.unresponsive_fraction = a.unresponsive  # nodes that never answer (MoDeST only)
    # churn: none | events ((round, 'join'|'leave', node), ...) | random (leave_prob, join_prob per round)
    c.churn = ConfigDict({"kind": "none", "events": (), "leave_prob": 0.0, "join_prob": 0.0,
                          "initial_online": 1.0})

    # D-PSGD (lib.dl.engine): random k-regular graph
    c.topology = "random_regular"
    c.topology_degree = 4
    c.mixing = "metropolis_hastings"
    c.gossip = ConfigDict({"kind": "auto", "steps": 1})
    c.node_batch = "auto"  # nodes stepped at once: 'auto' (CPU: one after another), 1, or None (all vmapped)
    c.mesh = (("nodes", -1),)

    c.local = ConfigDict({"batch_size": 20, "num_steps": 5, "lr": 0.05})  # the paper's 5 steps of batch 20

    c.total = 12  # rounds
    c.eval_batch_size = 1000
    c.test_subset = 0  # evaluate on N test samples drawn with the seed (0: all)
    c.log_every = 2
    c.eval_every = 4
    c.checkpoint_every = 4
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
