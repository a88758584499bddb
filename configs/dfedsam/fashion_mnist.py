"""DFedSAM(-MGS) vs DFedAvg(M), D-PSGD and centralized FedAvg on Fashion-MNIST, Dirichlet 0.3.

Paper setup (Shi et al., ICML 2023): CIFAR-10/100, ResNet-18-like, 100 clients, Dirichlet 0.3 (and
pathological), ring / grid / exponential / random topologies, rho 0.01-0.1, Q ~ 4, 5 local epochs,
lr 0.1 x 0.998^round, ~1000 rounds. Here (2 shared CPU cores): Fashion-MNIST, MLP 784-128-10, 32
nodes, Dirichlet 0.3, ring and 4 x 8 torus graphs (symmetric Metropolis-Hastings W), K = 5 local steps of
batch 32 per round, lr 0.05 constant (lr_decay 1: the FedAvg reference runs at a constant lr),
rho 0.05, Q = 4, momentum 0.9 for DFedAvgM, 150 rounds. Command (results JSON with wall time in
projects/dfedsam/results/fashion_mnist/):

    python launch/sweep.py --project dfedsam --config configs/dfedsam/fashion_mnist.py \\
        --workdir runs/dfedsam_fmnist --results projects/dfedsam/results/fashion_mnist \\
        --grid seed=0,1 --grid topology=ring,torus \\
        --grid method=dfedsam_mgs,dfedsam,dfedavg,dfedavgm,dpsgd --curve test_accuracy,node_accuracy_mean
    python launch/sweep.py ... --grid seed=0,1 --grid method=fedavg        (the centralized reference: no topology)

Measured on 2 shared CPU cores (nice 10, other jobs running): 29-82 s per run, 22 runs (2 seeds) plus 4
ablation runs = 24 min. Mean node accuracy after 150 rounds: DFedSAM-MGS 77.5 % (ring) / 79.8 % (torus),
DFedSAM 73.9 / 77.2 %, DFedAvg 74.5 / 77.5 %, DFedAvgM 77.6 / 80.4 %, D-PSGD 67.0 / 70.8 %, FedAvg 81.1 %
(projects/dfedsam/README.md has the table, generated from the JSON).
"""

from configs.dfedsam import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "fashion_mnist"
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.3
    c.num_nodes = 32
    c.topology = "ring"
    c.model.hidden = (128,)
    c.local.batch_size = 32
    c.local.num_steps = 5
    c.local.lr = 0.05
    c.rho = 0.05
    c.mgs_steps = 4
    c.total = 150
    c.log_every = 10
    c.eval_every = 25
    c.checkpoint_every = 50
    c.eval_batch_size = 2000
    return c
