"""Citadel-style secure aggregation. `python -m projects.citadel.main --config=configs/citadel/default.py --workdir=runs/citadel`."""
from lib import app
from projects.citadel import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
