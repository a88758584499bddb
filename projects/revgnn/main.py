"""RevGNN: deep grouped reversible GNNs. `python -m projects.revgnn.main --config=configs/revgnn/default.py --workdir=runs/revgnn`."""
from lib import app
from projects.revgnn import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
