"""Gossip learning with plain vs variance-corrected averaging (independent inits) vs a shared init
and FL, on MNIST.

Paper (Tian, Al-Ars, Kitsak, Hofstee, arXiv 2404.04616): gossip learning of independently
initialised models converges late because averaging uncorrelated models shrinks the weights'
variance; variance-corrected averaging brings it to FL-like convergence. Here (2 shared CPU
cores): MNIST, 50 nodes, IID, MLP 784-128-128-10 (LeCun-normal init), 5 local SGD steps of batch
20 (lr 0.05), gossip learning in synchronous rounds, FL reference with 10 clients per round,
150 rounds, seeds 0 and 1; accuracy on 2000 test images (a seeded draw). Command (results JSON in
projects/vanishing_variance/results/, wall times in them):

    python -m projects.vanishing_variance.reproduce --seeds 0,1
"""

from configs.vanishing_variance import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.partition = "iid"
    c.num_nodes = 50
    c.model.hidden = (128, 128)
    c.sample_size = 10
    c.local.batch_size = 20
    c.local.num_steps = 5
    c.local.lr = 0.05
    c.total = 150
    c.test_subset = 2000
    c.eval_batch_size = 2000
    c.log_every = 5
    c.eval_every = 5
    c.checkpoint_every = 50
    return c
