"""Tiny LAMB run on sklearn's 8x8 digits (ships with scikit-learn): the demo and the tests.

python -m projects.lamb.main --config=configs/lamb/default.py --workdir=runs/lamb_demo
Takes about 20 s on 2 CPU cores and reaches ~97% test accuracy.
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "lamb"
    c.seed = 0
    c.dataset = "digits"  # digits | mnist
    c.data_dir = config_dict.placeholder(str)  # default: $TESSERA_DATA_DIR, then ./data
    c.mesh = (("data", -1),)  # tuples: config_flags can override them, not lists
    c.mesh_dcn = config_dict.placeholder(tuple)

    c.model = ConfigDict({"hidden": (256, 256)})

    c.optimizer = "lamb"  # lamb | lars | adamw | sgd
    c.batch_size = 128
    c.eval_batch_size = 512
    c.base_lr = 0.01  # at base_batch_size; scaled by lr_scaling for other batch sizes
    c.base_batch_size = 128
    c.lr_scaling = "sqrt"  # sqrt (LAMB paper) | linear | none
    c.lr_decay_power = 1.0
    c.weight_decay = 0.01
    c.b1, c.b2, c.eps = 0.9, 0.999, 1e-6
    c.momentum = 0.9

    # Durations: steps (500), epochs ("30ep") or rounds ("200 rounds"); turned into steps
    # after command-line overrides, e.g. --config.total=2000.
    c.total = "30ep"
    c.warmup = "1ep"

    c.log_every = 50
    c.eval_every = 100
    c.checkpoint_every = 100
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
