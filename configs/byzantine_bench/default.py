"""Tiny Byzantine robustness run on FedProx Synthetic(1, 1) (generated, ships with the code):
tests and demo. All `num_clients` clients take part every round; floor(byzantine_fraction N)
of them, chosen once per run from `seed`, are Byzantine and run `attack` against the rule
`aggregator` behind the `defenses` stages.

python -m projects.byzantine_bench.main --config=configs/byzantine_bench/default.py --workdir=runs/byz_demo
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "byzantine_bench"
    c.seed = 0
    c.dataset = "synthetic"  # synthetic | mnist | femnist
    c.data_dir = config_dict.placeholder(str)
    c.num_clients = 16
    c.partition = "natural"
    c.dirichlet_alpha = 0.5
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.synthetic_dim = 60  # 64: the features form an 8 x 8 "image" (a backdoor trigger fits)
    c.model = ConfigDict({"name": "mlp", "hidden": (32,)})

    # rule (lib.fl.aggregate; f is filled from the fraction) behind defense stages, in order:
    # "name" or "name:key=value,key=value" joined by "+", e.g. "momentum:beta=0.5+nnm"
    c.aggregator = "median"
    c.rule_params = ConfigDict({}, type_safe=False)
    c.defenses = "nnm"
    c.root_size = 100  # FLTrust's server root set: samples drawn from the training pool
    # attack (lib.fl.attacks) and the threat model's knowledge: own | omniscient | full
    c.attack = "min_max"
    c.attack_params = ConfigDict({"perturbation": "unit"}, type_safe=False)
    c.knowledge = "full"
    c.byzantine_fraction = 0.25

    c.participation = "uniform"
    c.clients_per_round = 16
    c.capacity = 0
    c.local = ConfigDict({"batch_size": 16, "mode": "steps", "num_steps": 5, "num_epochs": 1,
                          "optimizer": "sgd", "momentum": 0.0, "lr": 0.05, "prox_mu": 0.0})
    c.server = ConfigDict({"optimizer": "sgd", "lr": 1.0})
    c.mesh = (("clients", -1),)
    c.param_dtype = "float32"
    c.compute_dtype = "float32"

    c.total = 10  # rounds
    c.eval_batch_size = 1000
    c.log_every = 5
    c.eval_every = 5
    c.checkpoint_every = 5
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
