"""Tiny CELU-VFL run on scikit-learn's breast cancer data split into guest/host parties (ships with
scikit-learn): the demo and the tests.

python -m projects.celu_vfl.main --config=configs/celu_vfl/default.py --workdir=runs/celu_demo
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "celu_vfl"
    c.seed = 0
    c.dataset = "sklearn_breast"  # sklearn_breast | breast | default_credit (the last two: data root vfl/)
    c.data_dir = config_dict.placeholder(str)
    c.test_fraction = 0.2
    c.party_devices = config_dict.placeholder(int)  # devices on the party axis; default one per party

    c.method = "celu"  # celu | local (no instance weighting) | vanilla (R = 1)
    c.W = 5  # workset size (cached communicated batches)
    c.R = 5  # updates per communicated batch: 1 communicated + R - 1 local per round
    c.xi = 0.5  # cosine threshold of the instance weighting, in [-1, 1]

    c.model = ConfigDict({"embed_dim": 8, "bottom_hidden": (16,), "top_hidden": ()})
    c.lr = 0.05  # Adagrad, guest and hosts
    c.batch_size = 32
    c.eval_batch_size = 128
    c.messages = ConfigDict({"fwd_bits": 32, "bwd_bits": 32, "noise_sigma": 0.0, "noise_clip": 1.0})
    c.wire = ConfigDict({"preset": "wan", "bandwidth_bps": config_dict.placeholder(float),
                         "latency_s": config_dict.placeholder(float), "compute_s": 0.002})

    c.total = 20  # rounds (communicated steps); or "3ep"
    c.log_every = 5
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
