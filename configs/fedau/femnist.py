"""FedAU on FEMNIST (LEAF), natural partition by writer, heterogeneous participation.

The 105 writers with train data under $TESSERA_DATA_DIR/femnist (14 708 train / 1 685 test
images, 62 classes); p_n from FedAU's recipe on each writer's label histogram (floor 0.02).
Paper: FEMNIST is not among FedAU's data sets; this is the issue's extra check.
Here (2 shared CPU cores): MLP 784-128-62, Bernoulli participation, 200 rounds of 5 local
SGD steps (batch 16, lr 0.1).

    python launch/sweep.py --project fedau --config configs/fedau/femnist.py \\
        --workdir runs/fedau_femnist --results projects/fedau/results/femnist \\
        --grid weighting=fedau,participating,all,known_prob
"""

from configs.fedau import default


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
