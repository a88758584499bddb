"""Loss-free load balancing. `python -m projects.lossfree_balance.main --config=configs/lossfree_balance/default.py --workdir=runs/lfb`."""
from lib import app
from projects.lossfree_balance import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
