"""Partitioned network embedding. `python -m projects.network_embedding.main --config=configs/network_embedding/default.py --workdir=runs/ne`."""
from lib import app
from projects.network_embedding import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
