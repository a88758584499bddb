"""MoDeST. `python -m projects.modest.main --config=configs/modest/default.py --workdir=runs/modest`."""
from lib import app
from projects.modest import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
