"""Tiny gradient-coding run on sklearn's 8x8 digits (ships with scikit-learn): tests and demo.

    python -m projects.grad_coding.main --config=configs/grad_coding/default.py --workdir=runs/gc_demo

`get_config(arg)`: arg = mode (uncoded | gc | sgc | srsgc), default sgc.
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "grad_coding"
    c.seed = 0
    c.mode = arg or "sgc"  # uncoded | gc | sgc (M-SGC) | srsgc (SR-SGC)
    c.dataset = "digits"  # digits | mnist | fashion_mnist
    c.data_dir = config_dict.placeholder(str)
    c.model = ConfigDict({"hidden": ()})  # () = multinomial logistic regression
    c.num_workers = 6
    c.lrs = (0.1, 0.2, 0.4, 0.8)  # one model per learning rate, trained concurrently (M >= T + 1 for sgc)
    c.num_jobs = 40  # full-gradient steps over all models (model t mod M takes job t)
    c.unit_size = 2  # samples per unit; a job's batch is num_workers K unit_size (K from the M-SGC layout)
    c.gc = ConfigDict({"s": 1, "code": "cyclic"})  # gradient coding: stragglers tolerated, cyclic | fractional
    # M-SGC / SR-SGC: (B, W, lam)-bursty design (B < W), delay T = W - 2 + B (M-SGC) or W - 1 (SR-SGC); tol: only workers slower than (1 + tol) x the
    # round's fastest may be declared stragglers; master: design (declared stragglers must conform to the
    # (B, W, lam) model, the paper's rule) | feasible (any pattern every job can still decode by its deadline)
    c.sgc = ConfigDict({"B": 1, "W": 3, "lam": 1, "code": "cyclic", "tol": 0.5, "master": "design"})
    # seconds per sample (step_time), bytes/s, seconds per message; Gilbert-Elliott stragglers per round
    c.clock = ConfigDict({"speed": "constant", "step_time": 0.01, "bandwidth": 1e8, "latency": 0.005,
                          "straggler": "gilbert_elliott", "ge_p_good_bad": 0.1, "ge_p_bad_good": 0.5,
                          "straggler_slowdown": 5.0})
    c.eval_batch_size = 1000
    c.eval_every = 8
    c.stop_after_steps = config_dict.placeholder(int)  # stop early (tests: an interruption)
    c.log_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
