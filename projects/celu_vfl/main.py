"""CELU-VFL. `python -m projects.celu_vfl.main --config=configs/celu_vfl/default.py --workdir=runs/celu_vfl`."""
from lib import app
from projects.celu_vfl import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
