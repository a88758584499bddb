"""Robustness table on FEMNIST (LEAF, natural partition by writer: the 105 writers under
$TESSERA_DATA_DIR/femnist, 62 classes), 21 writers per round (uniform sampling).

Here (2 shared CPU cores): MLP 784-128-62, 5 local SGD steps (batch 16, lr 0.1), `total`
rounds. Same command as configs/flag_aggregator/mnist.py with this config and
--results projects/flag_aggregator/results/femnist.
"""

from configs.flag_aggregator import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "femnist"
    c.num_clients = 105
    c.clients_per_round = 21
    c.partition = "natural"
    c.model.hidden = (128,)
    c.local.lr = 0.1
    c.total = 50
    c.log_every = 10
    c.eval_every = 10
    c.checkpoint_every = 10
    c.eval_batch_size = 1685
    c.mesh = (("clients", 1),)
    return c
