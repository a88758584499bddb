"""ROD vs SGC vs APPNP on CiteSeer (public Planetoid split, thinned); the settings of configs/rod/cora.py.

    python -m projects.rod.main --config=configs/rod/citeseer.py:method=sgc,edge_keep=0.1,labels=5 --workdir=runs/rod_cs
"""
from configs.rod import cora


def get_config(arg=None):
    return cora.build("citeseer", arg)
