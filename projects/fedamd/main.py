"""FedAMD (anchor sampling). `python -m projects.fedamd.main --config=configs/fedamd/default.py --workdir=runs/fedamd`."""
from lib import app
from projects.fedamd import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
