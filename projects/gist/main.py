"""GIST vs full GCN training. `python -m projects.gist.main --config=configs/gist/default.py --workdir=runs/gist`."""
from lib import app
from projects.gist import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
