"""MoDeST vs FL, D-PSGD (10-regular) and gossip learning on MNIST, 100 nodes; unresponsive sweep.

Paper (arXiv 2302.13837, MoDeST/Plexus): CIFAR-10 with 1000 peers and s = 13 (FEMNIST 355 peers,
CelebA 500), a = 1, sf = 0.8, 5 local steps of batch 20, D-PSGD on a 10-regular graph. Here (2
shared CPU cores): MNIST, 100 nodes, Dirichlet(0.3) label partition, MLP 784-64-10, s = 10, a = 1,
sf = 0.8, 5 local SGD steps of batch 20 (lr 0.05), D-PSGD on a random 10-regular graph
(Metropolis-Hastings W), seeds 0 and 1; accuracy on 2000 test images (a seeded draw). Command (results JSON
in projects/modest/results/, wall times in them):

    python -m projects.modest.reproduce --seeds 0,1
"""

from configs.modest import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.3
    c.num_nodes = 100
    c.model.hidden = (64,)
    c.sampling.sample_size = 10
    c.sampling.num_aggregators = 1
    c.sampling.success_fraction = 0.8
    c.topology = "random_regular"
    c.topology_degree = 10
    c.local.batch_size = 20
    c.local.num_steps = 5
    c.local.lr = 0.05
    c.total = 300
    c.test_subset = 2000
    c.eval_batch_size = 2000
    c.log_every = 5
    c.eval_every = 5
    c.checkpoint_every = 100
    return c
