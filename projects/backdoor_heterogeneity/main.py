"""Backdoor vs heterogeneity. `python -m projects.backdoor_heterogeneity.main --config=configs/backdoor_heterogeneity/default.py --workdir=runs/bd`."""
from lib import app
from projects.backdoor_heterogeneity import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
