"""Tiny Adaptive SGD run on sklearn's 8x8 digits (ships with scikit-learn): tests and demo.

    python -m projects.adaptive_sgd.main --config=configs/adaptive_sgd/default.py --workdir=runs/asgd_demo

`get_config(arg)`: arg = method (adaptive | static | async), default adaptive.
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "adaptive_sgd"
    c.seed = 0
    c.method = arg or "adaptive"  # adaptive | static | async
    c.dataset = "digits"  # digits | mnist | fashion_mnist
    c.data_dir = config_dict.placeholder(str)
    c.model = ConfigDict({"hidden": (64,)})
    c.num_workers = 4
    c.global_batch = 64  # samples per step over all workers
    c.local_steps = 2  # SGD steps between merges (sync) or per upload (async)
    c.lr = 0.05  # at the equal batch global_batch / num_workers
    c.lr_scaling = "linear"  # linear | none: a worker's lr scaled with its batch
    c.eval_batch_size = 1000
    # per worker: seconds per sample (clock.step_time is the slowest's; F-80: the fastest is 5x faster)
    c.merge = "normalised"  # normalised (b_g / sum b) | equal (ablation)
    # time_budget, eval_every_time: virtual seconds
    c.clock = ConfigDict({"speed": "fedfix", "speed_x": 80.0, "step_time": 0.01, "bandwidth": 1e8,
                          "latency": 0.01, "time_budget": 20.0, "eval_every_time": 2.0})
    c.stop_after_steps = config_dict.placeholder(int)  # stop early (tests: an interruption)
    c.log_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
