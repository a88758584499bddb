"""BiFeat on Cora (public split), one seed; 10-seed tables: projects/bifeat/reproduce.py.

python -m projects.bifeat.main --config=configs/bifeat/cora.py --workdir=runs/bifeat_cora \
    --config.compression.mode=scalar --config.compression.bits=1
Arg: dataset name (cora | citeseer), e.g. --config=configs/bifeat/cora.py:citeseer
"""
from configs.bifeat import default


def get_config(arg=None):
    c = default.get_config()
    c.dataset = arg or "cora"
    c.epochs = 200
    c.log_every = 50
    c.eval_every = 50
    c.checkpoint_every = 100
    return c
