"""BiFeat on Cora (public split), one seed, with the paper's point: the vector (product-
quantization) codec, sub-vectors of width 8 and 256 codewords, 32x smaller features.

python -m projects.bifeat.main --config=configs/bifeat/cora.py --workdir=runs/bifeat_cora
python -m projects.bifeat.main --config=configs/bifeat/cora.py --workdir=runs/bifeat_cora_f32 \
    --config.compression.mode=none          # the float32 baseline it is compared with
Arg: dataset name (cora | citeseer), e.g. --config=configs/bifeat/cora.py:citeseer.
10-seed tables: projects/bifeat/reproduce.py (it sets every setting's compression itself).
"""
from configs.bifeat import default


def get_config(arg=None):
    c = default.get_config()
    c.dataset = arg or "cora"
    c.compression.mode = "vector"
    c.compression.width = 8
    c.compression.num_codewords = 256
    c.epochs = 200
    c.log_every = 50
    c.eval_every = 50
    c.checkpoint_every = 100
    return c
