"""Vanishing variance.

python -m projects.vanishing_variance.main --config=configs/vanishing_variance/default.py --workdir=runs/vv
"""
from lib import app
from projects.vanishing_variance import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
