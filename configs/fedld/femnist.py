"""FedLD vs FedAvg / FedProx on FEMNIST (LEAF), natural partition by writer.

Paper (Zeng et al., MICCAI 2024): retinal and chest X-ray classification; FEMNIST is not among
its data sets (this is the issue's check). Here (2 shared CPU cores): the first 50 of the 105
writers with train data under $TESSERA_DATA_DIR/femnist (their own label and style skew), every
writer in every round, tested on those writers' test images; MLP 784-128-62, 10 local SGD steps
(batch 32, lr 0.05, momentum 0.5), 150 rounds, evaluation every 3 rounds. FedProx mu = 0.01;
FedLD lambda_m = 0.1, k = floor(0.8 m).

`get_config(arg)`, arg = "<method>_s<seed>" (e.g. "fedavg_s1"; default fedld_s0).

    python -m projects.fedld.report --run   # with configs/fedld/mnist.py's sweep, then the README table
"""

from configs.fedld import mnist


def get_config(arg=None):
    method, alpha, seed = mnist.parse(arg, "fedld_s0")
    c = mnist.get_config(f"{method}_s{seed}")
    c.dataset = "femnist"
    c.partition = "natural"
    c.num_clients = 50
    c.clients_per_round = 50
    c.model.hidden = (128,)
    c.eval_batch_size = 1000
    return mnist.set_method(c, method)
