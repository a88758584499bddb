"""Cluster-GCN vs full-batch GCN. `python -m projects.cluster_gcn.main --config=configs/cluster_gcn/default.py --workdir=runs/cluster_gcn`."""
from lib import app
from projects.cluster_gcn import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
