"""Feature age on the generated series (runs anywhere, ~10 s on 2 CPU cores).

python -m projects.feature_age.main --config=configs/feature_age/default.py --workdir=runs/age
`--config=configs/feature_age/default.py:markov=True` drops the seasonal part: a Markov series.
"""

from ml_collections import ConfigDict, config_dict

from lib.config import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, markov=False, seed=0)
    c = ConfigDict()
    c.project = "feature_age"
    c.seed = a.seed
    c.series = "synthetic"  # synthetic | real (config.real)
    c.data_dir = config_dict.placeholder(str)
    # y = z + w s: z AR(1) with coefficient a, s seasonal AR(period) with coefficient b; w = 0: Markov
    c.synthetic = ConfigDict({"length": 1200, "a": 0.6, "b": 0.9, "period": 8,
                              "seasonal_weight": 0.0 if a.markov else 1.0})
    c.real = ConfigDict({"source": "statsmodels:macrodata", "columns": (), "log_diff": (), "target": ""})
    c.min_age = 1
    c.max_age = 20
    c.window = 1  # feature values per input, ending at t - age
    c.train_fraction = 0.7  # the first part of the target times; the rest is the test set
    c.hidden = (32,)  # () = a linear forecaster
    c.lr = 3e-3
    c.weight_decay = 1e-4
    c.total = 600  # full-batch AdamW steps
    c.log_every = 200
    c.eval_every = 0
    c.checkpoint_every = 200
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
