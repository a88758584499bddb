"""LAMB paper's large-batch claim on real MNIST: batch 512 -> 16384, four optimizers.

Each optimizer's base LR was tuned at batch 512 (grid in projects/lamb/README.md, runs
from configs/lamb/mnist.py with --config.total=3ep), then scaled to larger batches by the
rule the paper prescribes: square root for LAMB and AdamW, linear for LARS and SGD.
Fixed budget of 10 epochs at every batch size, warmup 2 epochs, linear decay.

    python launch/sweep.py --project lamb --config configs/lamb/mnist.py --workdir runs/lamb_mnist \\
        --grid optimizer=lamb,lars,adamw,sgd --grid batch_size=512,1024,2048,4096,8192,16384

Hardware: 2 CPU cores (shared). Wall time per run and the accuracies reached are in
projects/lamb/results/ and the README table generated from them.
"""

from ml_collections import ConfigDict, config_dict

from configs.lamb import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "mnist"
    c.model.hidden = (256, 256)
    c.batch_size = 512
    c.base_batch_size = 512
    c.eval_batch_size = 2000
    c.base_lr = config_dict.placeholder(float)  # None: tuned_base_lr[optimizer]
    c.tuned_base_lr = ConfigDict({"lamb": 0.03, "lars": 0.03, "adamw": 0.01, "sgd": 0.1})
    c.lr_scaling = config_dict.placeholder(str)  # None: sqrt for lamb/adamw, linear for lars/sgd
    c.weight_decay = 0.01
    c.total = "10ep"
    c.warmup = "2ep"
    c.log_every = 20
    c.eval_every = 1000000  # only at the end
    c.checkpoint_every = 200
    return c
