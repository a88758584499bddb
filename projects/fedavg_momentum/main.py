"""FedAvg-M / SCAFFOLD-M. `python -m projects.fedavg_momentum.main --config=configs/fedavg_momentum/default.py --workdir=runs/fedavg_m`."""
from lib import app
from projects.fedavg_momentum import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
