"""Federated adversarial training vs FedAvg on real MNIST, from near-IID to strongly non-IID labels.

Setting: 20 clients, Dirichlet(alpha) labels with alpha in {10, 0.1}, 10 per round, MLP 784-512-10
(wide: the analysis is for the over-parameterised regime), 10 local SGD steps of batch 32 at
lr 0.1, 100 rounds, 1 seed. Attack: L-inf eps = 0.1 (a first run at Madry et al.'s eps = 0.3
with 60 rounds of 5 steps left the MLP at 36-42 % clean and ~1 % PGD accuracy: far too few
steps for that radius on 2 cores), PGD with 5 steps of 0.025 in training, 10 in evaluation, FGSM.

    python launch/sweep.py --project fal --config configs/fal/mnist.py --workdir runs/fal_mnist \\
        --results projects/fal/results/mnist --grid dirichlet_alpha=10,0.1 --grid adv.train=True,False \\
        --curve test_accuracy,pgd_accuracy,train_loss

Accuracies, robust training losses and wall times: projects/fal/results/mnist/*.json and the README.
"""

from configs.fal import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.num_clients = 20
    c.partition = "dirichlet"
    c.dirichlet_alpha = 10.0
    c.clients_per_round = 10
    c.model.hidden = (512,)
    c.local.batch_size = 32
    c.local.num_steps = 10
    c.local.lr = 0.1
    c.adv.input_range = (0.0, 1.0)
    c.adv.eps, c.adv.alpha = 0.1, 0.025
    c.total = 100
    c.log_every = 5
    c.eval_every = 20
    c.checkpoint_every = 30
    c.eval_batch_size = 2000
    c.mesh = (("clients", 1),)
    return c
