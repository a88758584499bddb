"""Tiny DiLoCo run on the Python docs text (pydoc_topics, ships with Python): tests and demo.

    python -m projects.diloco.main --config=configs/diloco/default.py --workdir=runs/diloco_demo

`get_config(arg)`: arg = method (diloco | diloco_delayed | sync_dp), default diloco.
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "diloco"
    c.seed = 0
    c.method = arg or "diloco"  # diloco | diloco_delayed | sync_dp
    c.dataset = "pydoc_topics"  # pydoc_topics | tinyshakespeare | austen
    c.data_dir = config_dict.placeholder(str)
    c.max_chars = 200_000
    c.val_fraction = 0.1
    c.seq_len = 32
    c.batch_size = 8  # per worker and inner step
    c.eval_batch_size = 32
    c.eval_batches = 4

    c.model = ConfigDict({"d_model": 32, "num_heads": 2, "num_layers": 1, "d_ff": 64})

    c.num_workers = 4  # k
    c.inner_steps = 5  # H
    c.num_rounds = 8
    c.stop_after_rounds = config_dict.placeholder(int)  # stop early (tests: an interruption); schedules unchanged
    # inner AdamW (per worker, its state kept across rounds); warm-up + cosine over all inner steps
    c.inner = ConfigDict({"lr": 3e-3, "warmup": 5, "final_lr_fraction": 0.1, "b1": 0.9, "b2": 0.95,
                          "weight_decay": 0.1, "clip": 1.0})
    c.outer = ConfigDict({"lr": 0.7, "momentum": 0.9, "nesterov": True})  # the paper's outer step

    # virtual clock: seconds per inner step, and the WAN each all-reduce crosses (lib.fl.clock.speeds keys)
    c.clock = ConfigDict({"speed": "constant", "step_time": 0.1, "bandwidth": 1e6, "latency": 0.05})

    c.eval_every = 2  # rounds
    c.log_every = 2
    c.checkpoint_every = 2
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
