"""DeepWalk on Cora or CiteSeer (data root planetoid/), whole graph or METIS parts merged.

python -m projects.network_embedding.main --config=configs/network_embedding/planetoid.py:dataset=cora --workdir=runs/ne_cora
python -m projects.network_embedding.main --config=configs/network_embedding/planetoid.py:dataset=citeseer,method=partitioned,num_parts=4 --workdir=runs/ne_cs4
The sweep: python -m projects.network_embedding.report --run
"""

from configs.network_embedding import default
from lib.config import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, dataset="cora", method="whole", num_parts=4, halo=0, seed=0)
    c = default.get_config(f"method={a.method},num_parts={a.num_parts},seed={a.seed}")
    c.dataset = a.dataset
    c.halo = a.halo
    c.walks_per_node = 10  # DeepWalk's 10 walks per node; length 40 (the paper: 80)
    c.walk_length = 40
    c.sgns.dim = 64
    c.chunk = 1000
    c.checkpoint_every = 20
    return c
