"""Federated adversarial learning. `python -m projects.fal.main --config=configs/fal/default.py --workdir=runs/fal`."""
from lib import app
from projects.fal import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
