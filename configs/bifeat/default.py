"""Tiny BiFeat run on a synthetic contextual SBM (ships with the code): the demo and the tests.

python -m projects.bifeat.main --config=configs/bifeat/default.py --workdir=runs/bifeat_demo
"""
from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "bifeat"
    c.seed = 0
    c.dataset = "csbm"  # csbm | cora | citeseer
    c.data_dir = config_dict.placeholder(str)
    c.csbm = ConfigDict({"num_nodes": 300, "num_classes": 3, "num_features": 64, "avg_degree": 6.0,
                         "homophily": 0.8, "feature_snr": 1.5, "train_per_class": 10, "num_val": 60,
                         "num_test": 120, "seed": 0})
    c.compression = ConfigDict({"mode": "scalar", "bits": 1, "width": 16, "num_codewords": 256})
    # input_dropout: dropout on the input features; unset = model.dropout (Kipf & Welling)
    c.model = ConfigDict({"layer": "gcn", "hidden": 16, "dropout": 0.5, "quant": "none",
                          "input_dropout": config_dict.placeholder(float),
                          "dq": {"p_low": 0.0, "p_high": 0.1}})
    c.compute_dtype = "float32"  # float32 only: the codecs and quantized layers emulate integer arithmetic
    c.learning_rate = 0.01
    c.weight_decay = 5e-4
    c.epochs = 30
    c.log_every = 10
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
