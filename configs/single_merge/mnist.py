"""D-SGD with a 10 % communication budget spent uniformly vs late, each read before and after one final
global merge, vs D-SGD gossiping every round and a server baseline (complete graph, W = 11^T / n: an
exact average every round = parallel SGD). MNIST, ring of 16 (Metropolis-Hastings W = 1/3), Dirichlet(alpha)
labels, MLP 784-128-10, batch 32 per node, one SGD step per round, lr 0.05 constant, 1000 rounds
(~8.5 passes over MNIST in all), 100 gossip rounds for the budgeted runs. Every run ends with the merge
step (step 1001); its eval at step 1000 is the "no merge" reading (each node's own model).

    python launch/sweep.py --project single_merge --config configs/single_merge/mnist.py \\
        --workdir runs/single_merge_mnist --results projects/single_merge/results/mnist \\
        --curve test_accuracy,node_accuracy_mean,node_accuracy_min,node_accuracy_max \\
        --grid dirichlet_alpha=0.1,1.0 --grid schedule.kind=late,budgeted,every
    python launch/sweep.py ... (same) --grid dirichlet_alpha=0.1,1.0 --grid topology=complete --set schedule.kind=every
"""

from configs.single_merge import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.partition = "dirichlet"
    c.dirichlet_alpha = 0.1
    c.num_nodes = 16
    c.topology = "ring"
    c.model.hidden = (128,)
    c.local.batch_size = 32
    c.local.num_steps = 1
    c.local.lr = 0.05
    c.total = 1000
    c.schedule.kind = "late"
    c.schedule.budget = 100  # gossip rounds for budgeted / late / ramp (ignored by every)
    c.schedule.final_merge = True
    c.log_every = 50
    c.eval_every = 100
    c.checkpoint_every = 500
    c.eval_batch_size = 2000
    return c
