"""FedStale. `python -m projects.fedstale.main --config=configs/fedstale/default.py --workdir=runs/fedstale`."""
from lib import app
from projects.fedstale import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
