"""FedStale in its paper's kind of setting (Rodio & Neglia, arXiv 2405.04171), small: MNIST, 24 clients with
IID inputs, label-swap heterogeneity h (a fraction h of the clients swap label pairs, the
recipe assumed in projects/fedstale/hetero.py), two participation groups p in {1.0, 0.5}
(Bernoulli, p known), beta in {0, 0.5, 1}.

Paper: 24 clients on 20 % of MNIST, CNN, 1 local step of batch 128 at SGD 5e-3, 4000
rounds, h in {0, .2, ..., 1}. Here (2 shared CPU cores): all of MNIST, MLP 784-64-10,
5 local SGD steps of batch 16 at lr 0.05, 60 rounds, one seed.

    nice -n 10 python launch/sweep.py --project fedstale --config configs/fedstale/mnist_swap.py \\
        --workdir runs/fedstale_swap --results projects/fedstale/results/mnist_swap \\
        --grid label_swap=0.3 --grid beta=0.0,0.5,1.0
"""

from configs.fedstale import mnist


def get_config(arg=None):
    c = mnist.get_config(arg)
    c.partition = "iid"
    c.label_swap = 0.3
    c.participation = "bernoulli"
    c.participation_groups = (1.0, 0.5)
    c.total = 60
    c.eval_every = 20
    c.log_every = 20
    c.checkpoint_every = 60
    return c
