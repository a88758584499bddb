"""Gradient coding. `python -m projects.grad_coding.main --config=configs/grad_coding/default.py --workdir=runs/gc`."""
from lib import app
from projects.grad_coding import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
