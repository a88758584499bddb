"""Robustness table on FEMNIST (LEAF, natural partition by writer: the 105 writers under
$TESSERA_DATA_DIR/femnist, 62 classes), 30 writers per round (uniform sampling), so that
Bulyan (n >= 4f + 3) still runs at 20 % (f = 6). Byzantine writers are floor(fraction x 105)
of all writers, so a round holds about fraction x 30 of them (it varies round to round).

Here (2 shared CPU cores): MLP 784-128-62, 5 local SGD steps (batch 16, lr 0.1), 30
rounds, one seed. The slice run (all rules x {none, sign_flip 20 %, alie 20 %}):

    nice -n 10 python -m projects.flag_aggregator.table --config configs/flag_aggregator/femnist.py \\
        --results projects/flag_aggregator/results/femnist --attacks sign_flip,alie --fractions 0,0.2
"""

from configs.flag_aggregator import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "femnist"
    c.num_clients = 105
    c.clients_per_round = 30
    c.partition = "natural"
    c.model.hidden = (128,)
    c.local.lr = 0.1
    c.total = 30
    c.log_every = 10
    c.eval_every = 10
    c.checkpoint_every = 10
    c.eval_batch_size = 1685
    c.mesh = (("clients", 1),)
    return c
