"""FedFix. `python -m projects.fedfix.main --config=configs/fedfix/default.py --workdir=runs/fedfix`."""
from lib import app
from projects.fedfix import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
