"""The robustness study on FEMNIST (LEAF), natural partition: the first 20 writers of
$TESSERA_DATA_DIR/femnist, each with its own handwriting and label skew (62 classes), every
writer every round, MLP 784-128-62, 5 local SGD steps (batch 32, lr 0.1) per round, 40 rounds,
20 % Byzantine (4 writers); the rest as configs/byzantine_bench/mnist.py.

    nice -n 10 python -m projects.byzantine_bench.grid --config configs/byzantine_bench/femnist.py \\
        --results projects/byzantine_bench/results/femnist [--set seed=1]
"""

from configs.byzantine_bench import mnist


def get_config(arg=None):
    c = mnist.get_config(arg)
    c.dataset = "femnist"
    c.partition = "natural"
    c.model.hidden = (128,)
    c.total = 40
    c.log_every = 20
    c.eval_every = 20
    c.checkpoint_every = 20
    return c
