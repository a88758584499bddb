"""FedStale on FEMNIST (LEAF), natural partition by writer: beta in {0, 0.5, 1}, participation p = 0.5.

The 105 writers with train data under $TESSERA_DATA_DIR/femnist (14 708 train / 1 685 test
images, 62 classes); heterogeneity is the writers' own (natural partition), participation
Bernoulli p = 0.5 (known p). FEMNIST is not among FedStale's data sets; this is the issue's
second data set. Here (2 CPU cores): MLP 784-128-62, 200 rounds of 5 local SGD steps
(batch 16, lr 0.1), as configs/fedau/femnist.py.

    python launch/sweep.py --project fedstale --config configs/fedstale/femnist.py \\
        --workdir runs/fedstale_femnist --results projects/fedstale/results/femnist \\
        --grid beta=0.0,0.5,1.0

Wall time and accuracies: projects/fedstale/results/femnist/*.json and the README table.
"""

from configs.fedstale import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "femnist"
    c.num_clients = 105
    c.partition = "natural"
    c.model.hidden = (128,)
    c.local.lr = 0.1
    c.total = 200
    c.log_every = 50
    c.eval_every = 25
    c.checkpoint_every = 100
    c.eval_batch_size = 1685
    c.mesh = (("clients", 1),)
    return c
