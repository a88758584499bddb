"""ROD / SGC / APPNP on thinned graphs. `python -m projects.rod.main --config=configs/rod/default.py --workdir=runs/rod`."""
from lib import app
from projects.rod import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
