"""FedAvg over 1,000,000 generated clients (2-8 samples each), 1,000 per round.

    python -m projects.fedavg.main --config=configs/fedavg/population_1m.py --workdir=runs/fedavg_1m

The population (~5M samples, ~1.2 GB on disk, memory-mapped) is generated once into the
cache folder. Only the round's cohort is on the devices; per-client statistics of all 1M
clients live in host arrays and in the checkpoint. 10,000 held-out clients are evaluated.
"""

from configs.fedavg import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.population.num_clients = 1_000_000
    c.population.eval_clients = 10_000
    c.cohort = 1000
    c.total = 50
    c.log_every = 5
    c.eval_every = 10
    c.checkpoint_every = 10
    return c
