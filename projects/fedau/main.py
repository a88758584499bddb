"""FedAU. `python -m projects.fedau.main --config=configs/fedau/default.py --workdir=runs/fedau`."""
from lib import app
from projects.fedau import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
