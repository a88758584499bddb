"""Tiny DFedSAM run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

python -m projects.dfedsam.main --config=configs/dfedsam/default.py --workdir=runs/dfedsam_demo
python -m projects.dfedsam.main --config=configs/dfedsam/default.py:method=dfedavg --workdir=runs/dfedsam_demo_b
"""

from ml_collections import ConfigDict, config_dict

from lib import config as config_lib


def get_config(arg=None):
    a = config_lib.parse_arg(arg, method="dfedsam")
    c = ConfigDict()
    c.project = "dfedsam"
    c.seed = 0
    c.method = a.method  # dfedsam | dfedsam_mgs | dfedavg | dfedavgm | dpsgd | fedavg (centralized reference)
    c.rho = 0.05  # SAM radius (DFedSAM, DFedSAM-MGS)
    c.mgs_steps = 4  # Q, gossip steps per round of DFedSAM-MGS
    c.momentum = 0.9  # DFedAvgM's local heavy-ball momentum

    c.dataset = "synthetic"  # synthetic | mnist | fashion_mnist | femnist
    c.data_dir = config_dict.placeholder(str)
    c.num_nodes = 8
    c.partition = "natural"  # natural | iid | dirichlet | shards
    c.dirichlet_alpha = 0.3
    c.shards_per_client = 2
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.model = ConfigDict({"name": "mlp", "hidden": (32,)})
    c.param_dtype = "float32"
    c.compute_dtype = "float32"

    c.topology = "ring"  # ring | torus | exponential | one_peer_exponential | complete | erdos_renyi | random_geometric | social
    c.topology_p = 0.3  # erdos_renyi edge probability
    c.topology_radius = 0.4  # random_geometric radius
    c.mixing = "metropolis_hastings"  # metropolis_hastings | uniform_neighbour
    c.gossip = ConfigDict({"kind": "auto", "steps": 1})  # dense | ppermute | auto; gossip steps of every method but MGS
    c.node_batch = "auto"  # nodes stepped at once per device: 'auto' (CPU: 1), an int, or None (all)

    c.local = ConfigDict({"batch_size": 16, "num_steps": 5, "lr": 0.05})  # K local steps per round (D-PSGD: 1)
    c.lr_decay = 1.0  # lr at round t = local.lr * lr_decay^t (the paper: 0.998); FedAvg needs 1

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
