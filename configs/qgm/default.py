"""Tiny QG-DSGDm-N run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

python -m projects.qgm.main --config=configs/qgm/default.py --workdir=runs/qgm_demo
python -m projects.qgm.main --config=configs/qgm/default.py:method=dsgdm_n --workdir=runs/qgm_demo_dsgdm
"""

from ml_collections import ConfigDict, config_dict

from lib import config as config_lib


def get_config(arg=None):
    a = config_lib.parse_arg(arg, method="qg_dsgdm_n")
    c = ConfigDict()
    c.project = "qgm"
    c.seed = 0
    c.method = a.method  # qg_dsgdm_n | qg_dsgdm | dsgdm_n | dsgd
    c.momentum = 0.9  # mu; QG's beta = 1 - mu
    c.weight_decay = 0.0

    c.dataset = "synthetic"  # synthetic | mnist | femnist
    c.data_dir = config_dict.placeholder(str)
    c.num_nodes = 8
    c.partition = "natural"  # natural | iid | dirichlet | shards
    c.dirichlet_alpha = 0.1
    c.shards_per_client = 2
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.model = ConfigDict({"name": "mlp", "hidden": (32,)})
    c.param_dtype = "float32"
    c.compute_dtype = "float32"

    c.topology = "ring"  # ring | torus | exponential | one_peer_exponential | complete | erdos_renyi | random_geometric | social
    c.topology_p = 0.3  # erdos_renyi edge probability
    c.topology_radius = 0.4  # random_geometric radius
    c.mixing = "metropolis_hastings"  # metropolis_hastings | uniform_neighbour
    c.gossip = ConfigDict({"kind": "auto", "steps": 1})  # dense | ppermute | auto; Q gossip steps per round
    c.node_batch = "auto"  # nodes stepped at once per device: 'auto' (CPU: 1), an int, or None (all)

    c.local = ConfigDict({"batch_size": 16, "num_steps": 1, "lr": 0.05})  # one SGD step per gossip, as the paper
    c.warmup_rounds = 0
    c.lr_decay_at = ()  # fractions of the run where lr is multiplied by 0.1

    c.mesh = (("nodes", -1),)
    c.total = 20  # rounds
    c.eval_batch_size = 1000
    c.eval_nodes = True  # also evaluate every node's own model
    c.log_every = 5
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
