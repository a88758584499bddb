"""DADAO vs randomized gossip + local gradient steps (same Poisson clocks, same seed) and ADOM+ (synchronous), L2-regularised
logistic regression generated over 16 nodes (50 samples of dimension 10 each, heterogeneity 1), random
geometric graph of radius 0.5 (redrawn until connected), lambda_grad = 16 (one gradient per node per unit
time), lambda_mix = sqrt(2 chi1 chi2); mu in {1e-2, 1e-3, 1e-4} (kappa = L/mu ~ 17, 160, 1600);
400 chunks of 1000 events. Command (results JSON in projects/dadao/results/rgg/):

    python launch/sweep.py --project dadao --config configs/dadao/rgg.py --workdir runs/dadao_rgg \\
        --results projects/dadao/results/rgg --curve train_rel_dist2,train_grad_events,train_comm_events \\
        --grid mu=0.01,0.001,0.0001 --grid method=dadao,gossip_gd,adom_plus,adom_plus_mc
"""

from configs.dadao import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.num_nodes = 16
    c.dim = 10
    c.samples_per_node = 50
    c.heterogeneity = 1.0
    c.topology_radius = 0.5
    c.mu = 1e-3
    c.chunk = 1000
    c.total = 400
    c.log_every = 1
    c.checkpoint_every = 100
    return c
