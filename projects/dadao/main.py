"""DADAO. `python -m projects.dadao.main --config=configs/dadao/default.py --workdir=runs/dadao`."""
from lib import app
from projects.dadao import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
