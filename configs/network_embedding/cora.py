"""DeepWalk on Cora (data root planetoid/), whole graph or METIS parts merged.

python -m projects.network_embedding.main --config=configs/network_embedding/cora.py --workdir=runs/ne_cora
python -m projects.network_embedding.main --config=configs/network_embedding/cora.py:method=partitioned,num_parts=4 --workdir=runs/ne_cora4
"""

from configs.network_embedding import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "cora"
    c.walks_per_node = 10
    c.walk_length = 40
    c.sgns.dim = 64
    c.chunk = 1000
    return c
