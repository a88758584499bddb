"""QG-DSGDm-N vs DSGDm-N vs DSGD on MNIST: ring of 16 nodes, Dirichlet(alpha) labels, one seed.

Paper setup (Lin et al., ICML 2021): CIFAR-10 ResNet-20 on a ring of 16 / social graph of 32,
Dirichlet alpha in {10, 1, 0.1}, batch 32 per node, one SGD step per gossip, Nesterov 0.9, lr
warm-up then x0.1 at 50 % / 75 %, 300 epochs. Here (2 shared CPU cores): MNIST, MLP 784-128-10,
ring of 16 (Metropolis-Hastings W = 1/3), batch 32, one local step per round (= per gossip, as
the paper), lr 0.05 for every method (not tuned per method), 20-round warm-up, x0.1 at 50 % / 75 %,
weight decay 1e-4, 800 rounds (~7 epochs of MNIST over all nodes), 1 seed. Command (results JSON and wall time in projects/qgm/results/mnist/):

    python launch/sweep.py --project qgm --config configs/qgm/mnist.py --workdir runs/qgm_mnist \\
        --results projects/qgm/results/mnist --grid dirichlet_alpha=1.0,0.1 \\
        --grid method=qg_dsgdm_n,dsgdm_n,dsgd
"""

from configs.qgm import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.partition = "dirichlet"
    c.dirichlet_alpha = 1.0
    c.num_nodes = 16
    c.topology = "ring"
    c.model.hidden = (128,)
    c.local.batch_size = 32
    c.local.num_steps = 1
    c.local.lr = 0.05
    c.weight_decay = 1e-4
    c.warmup_rounds = 20
    c.lr_decay_at = (0.5, 0.75)
    c.total = 800
    c.log_every = 50
    c.eval_every = 100
    c.checkpoint_every = 300
    c.eval_batch_size = 2000
    c.mesh = (("nodes", -1),)
    return c
