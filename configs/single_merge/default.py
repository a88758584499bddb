"""Tiny run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo. D-SGD on a
ring of 8 that gossips only in its last 5 of 20 rounds, then one global merge (step 21).

python -m projects.single_merge.main --config=configs/single_merge/default.py --workdir=runs/sm_demo
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    del arg
    c = ConfigDict()
    c.project = "single_merge"
    c.seed = 0
    c.weight_decay = 0.0

    c.dataset = "synthetic"  # synthetic | mnist | fashion_mnist | femnist (lib.fl.tasks)
    c.data_dir = config_dict.placeholder(str)
    c.num_nodes = 8
    c.partition = "natural"  # natural | iid | dirichlet | shards
    c.dirichlet_alpha = 0.1
    c.shards_per_client = 2
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.model = ConfigDict({"name": "mlp", "hidden": (32,)})
    c.param_dtype = "float32"
    c.compute_dtype = "float32"

    c.topology = "ring"  # ring | ... | complete (complete + metropolis_hastings = exact averaging: the server baseline)
    c.topology_p = 0.3
    c.topology_radius = 0.4
    c.mixing = "metropolis_hastings"
    c.gossip = ConfigDict({"kind": "auto", "steps": 1})
    c.node_batch = "auto"
    # lib/dl/schedule.py: kind every | every_k | budgeted | late | ramp; budget = number of gossip rounds
    c.schedule = ConfigDict({"kind": "late", "k": 1, "budget": 5, "ramp_power": 2.0, "final_merge": True})

    c.local = ConfigDict({"batch_size": 16, "num_steps": 1, "lr": 0.05})
    c.mesh = (("nodes", -1),)
    c.total = 20  # rounds (the final merge, if any, is one more step)
    c.eval_batch_size = 1000
    c.log_every = 5
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
