"""FedFix vs sync FedAvg, asynchronous FedAvg (Fraboni's d_i = 1, and Xie's FedAsync) and FedBuff-10
on MNIST, Dirichlet 0.1, speed scenario F-80 (the fastest client is 5x the slowest).

Paper (Fraboni et al., arXiv 2206.10189): M = 10-30 clients, B 64, lr_g 1, FedFix-{0.2,0.5,0.8},
FedBuff-{5,10}. Here (2 shared CPU cores): 50 clients on all of MNIST, MLP 784-64-10,
5 local SGD steps of batch 32 at lr 0.05, the slowest client 1 s per step (5 s per task),
FedFix dt = 2.5 s (FedFix-0.5), a budget of 150 virtual seconds.

    python -m projects.fedfix.report --run   # runs all five (resumable) and writes the README table

or one: python -m projects.fedfix.main --config=configs/fedfix/mnist.py:fedfix --workdir=runs/fedfix_mnist_fedfix
"""

from configs.fedfix import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.1
    c.num_clients = 50
    c.model.hidden = (64,)
    c.local.batch_size = 32
    c.local.num_steps = 5
    c.local.lr = 0.05
    c.clock.step_time = 1.0
    c.clock.dt = 2.5
    c.clock.buffer_size = 1 if arg == "async" else 10
    c.clock.time_budget = 150.0
    c.clock.eval_every_time = 10.0
    c.clock.max_batch = 64
    c.eval_batch_size = 2000
    c.checkpoint_every = 200
    c.log_every = 50
    c.mesh = (("clients", 1),)
    return c
