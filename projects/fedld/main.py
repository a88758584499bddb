"""FedLD. `python -m projects.fedld.main --config=configs/fedld/default.py --workdir=runs/fedld`."""
from lib import app
from projects.fedld import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
