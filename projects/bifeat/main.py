"""BiFeat: GNNs trained from compressed node features. `python -m projects.bifeat.main --config=configs/bifeat/default.py --workdir=runs/bifeat`."""
from lib import app
from projects.bifeat import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
