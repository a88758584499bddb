"""FedAMD vs FedAvg vs SCAFFOLD on FEMNIST (LEAF, 62 classes), reference defaults otherwise.

The paper splits EMNIST by Dirichlet(0.1) labels; lib's FEMNIST task is partitioned by writer
(LEAF's natural split), so here each client is one writer (the first 20 writers), with the
MLP 784-200-62, 200 rounds, 1 seed: FedAvg / SCAFFOLD / FedAMD all end at 62.5 % (304 test samples);
`python -m projects.fedamd.report --run=femnist`.

    python launch/sweep.py --project fedamd --config configs/fedamd/femnist.py \\
        --workdir runs/fedamd_femnist --results projects/fedamd/results/femnist \\
        --grid method=fedavg,scaffold,fedamd
"""

from configs.fedamd import mnist


def get_config(arg=None):
    c = mnist.get_config(arg)
    c.dataset = "femnist"
    c.partition = "natural"
    return c
