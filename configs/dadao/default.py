"""Tiny DADAO run (generated logistic regression, random geometric graph of 10 nodes): tests and demo.

python -m projects.dadao.main --config=configs/dadao/default.py --workdir=runs/dadao_demo
python -m projects.dadao.main --config=configs/dadao/default.py --config.method=gossip_gd --workdir=runs/dadao_demo_gd
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    del arg
    c = ConfigDict()
    c.project = "dadao"
    c.seed = 0
    c.method = "dadao"  # dadao | gossip_gd (randomized gossip + gradient steps, same clocks) | adom_plus | adom_plus_mc
    c.num_nodes = 10
    c.topology = "random_geometric"  # any lib.dl.topology name; the graph must be connected
    c.topology_radius = 0.5
    c.topology_p = 0.3
    c.samples_per_node = 50
    c.dim = 5
    c.mu = 0.01  # L2 regularisation = strong convexity of every f_i
    c.L = config_dict.placeholder(float)  # None: computed from the data (max_i lambda_max(A_i^T A_i/m)/4 + mu)
    c.heterogeneity = 1.0
    c.lambda_grad = config_dict.placeholder(float)  # None: num_nodes (one gradient per node per unit time)
    c.lambda_mix = config_dict.placeholder(float)  # None: sqrt(2 chi1 chi2), the paper's choice
    c.chunk = 200  # events per jitted lax.scan (= one lib.train step); ADOM+: chunk // (n + q|E|) iterations
    c.total = 10  # chunks
    c.log_every = 1
    c.eval_every = 0
    c.checkpoint_every = 5
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
