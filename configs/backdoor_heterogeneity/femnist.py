"""Backdoor on FEMNIST writers (data root: femnist/, LEAF JSON): the natural, writer-level
heterogeneity. 60 writers, 10 sampled per round, MLP 128, 10 local steps of 32 (lr 0.05),
60 rounds; 6 attackers (10 %) with the MNIST trigger (4x4 ink square bottom-right) -> class 0.

python -m projects.backdoor_heterogeneity.main --config=configs/backdoor_heterogeneity/femnist.py \\
    --workdir=runs/bd_femnist --config.data_dir=/path/to/data
"""

from ml_collections import ConfigDict

from configs.backdoor_heterogeneity import mnist


def get_config(arg=None):
    c = mnist.get_config()
    c.dataset = "femnist"
    c.partition = "natural"
    c.num_clients = 60
    c.model = ConfigDict({"name": "mlp", "hidden": (128,)})
    c.total = 60
    c.eval_every = 10
    return c
