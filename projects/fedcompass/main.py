"""FedCompass. `python -m projects.fedcompass.main --config=configs/fedcompass/default.py --workdir=runs/fedcompass`."""
from lib import app
from projects.fedcompass import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
