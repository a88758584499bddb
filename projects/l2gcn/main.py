"""L-GCN vs full-batch GCN. `python -m projects.l2gcn.main --config=configs/l2gcn/default.py --workdir=runs/l2gcn`."""
from lib import app
from projects.l2gcn import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
