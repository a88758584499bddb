"""FedAU on real MNIST: 250 clients, Dirichlet(0.1) labels, heterogeneous participation.

Paper setup (Wang & Ji, ICLR 2024): N=250, Dirichlet 0.1, batch 16, 5 local SGD iterations per
round, local lr 0.1, server lr 1, p_n from FedAU's data-correlated recipe (floor 0.02),
Bernoulli / Markov (to-active <= 0.05) / cyclic (period 100); CIFAR-10 CNN, 10 000 rounds.
Here (2 shared CPU cores): MNIST with an MLP 784-64-10, 200 rounds, `total` rounds as run below.

    python launch/sweep.py --project fedau --config configs/fedau/mnist.py \\
        --workdir runs/fedau_mnist --results projects/fedau/results \\
        --grid participation=bernoulli,markov,cyclic \\
        --grid weighting=fedau,participating,all,known_prob

Wall time and accuracies: projects/fedau/results/*.json and the README table.
"""

from configs.fedau import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.num_clients = 250
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.1
    c.model.hidden = (64,)
    c.local.lr = 0.1
    c.total = 200
    c.log_every = 50
    c.eval_every = 25
    c.checkpoint_every = 100
    c.eval_batch_size = 2000
    c.mesh = (("clients", 1),)  # 2 shared cores: more simulated devices only add overhead
    return c
