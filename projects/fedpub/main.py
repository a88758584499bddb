"""FED-PUB vs FedAvg vs local. `python -m projects.fedpub.main --config=configs/fedpub/default.py --workdir=runs/fedpub`."""
from lib import app
from projects.fedpub import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
