"""Adaptive SGD. `python -m projects.adaptive_sgd.main --config=configs/adaptive_sgd/default.py --workdir=runs/asgd`."""
from lib import app
from projects.adaptive_sgd import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
