"""FedAvg over a population. `python -m projects.fedavg.main --config=configs/fedavg/default.py --workdir=runs/fedavg`."""
from lib import app
from projects.fedavg import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
