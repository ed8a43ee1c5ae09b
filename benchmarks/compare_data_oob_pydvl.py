"""Data-OOB: skinfluence's ``DataOOBScorer`` against pyDVL 0.10's ``DataOOBValuation`` on the
same fitted forests (issue 20). pyDVL needs numpy < 2, so it runs in its own environment and
hands the fitted models and its values over in a pickle:

    python3 -m venv /tmp/pydvl && /tmp/pydvl/bin/pip install "pydvl==0.10.0" "numpy<2" \\
        dask distributed "zarr<3" scikit-learn
    /tmp/pydvl/bin/python benchmarks/compare_data_oob_pydvl.py --pydvl /tmp/oob.pkl
    python benchmarks/compare_data_oob_pydvl.py --check /tmp/oob.pkl

``--pydvl`` fits each forest (fixed seeds) on data with 10 % flipped labels and values its
rows with pyDVL; ``--check`` values the same fitted forests with ``DataOOBScorer`` (frozen:
no refit) and prints the largest difference and the seconds of each.
"""

import argparse
import pickle
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_regression
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor


def _cases():
    def flipped(load, seed=0):
        X, y = load(return_X_y=True)
        rng = np.random.RandomState(seed)
        flip = rng.rand(len(y)) < 0.1
        y = y.copy()
        classes = np.unique(y)
        y[flip] = np.searchsorted(classes, y[flip]) + rng.randint(1, len(classes), flip.sum())
        y[flip] = classes[y[flip] % len(classes)]
        return X, y

    X_r, y_r = make_regression(500, 8, noise=10.0, random_state=0)
    return {
        "breast-cancer, random forest (500 trees)": (
            *flipped(load_breast_cancer),
            RandomForestClassifier(500, random_state=0),
        ),
        "digits, random forest (500 trees)": (
            *flipped(load_digits),
            RandomForestClassifier(500, random_state=0),
        ),
        "digits, extra trees, bootstrap (300 trees)": (
            *flipped(load_digits),
            ExtraTreesClassifier(300, bootstrap=True, random_state=0),
        ),
        "regression 500 x 8, random forest (200 trees)": (
            X_r,
            y_r,
            RandomForestRegressor(200, random_state=0),
        ),
    }


def run_pydvl(path):
    from pydvl.valuation.dataset import Dataset
    from pydvl.valuation.methods import DataOOBValuation

    out = {}
    for name, (X, y, model) in _cases().items():
        model.fit(X, y)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            valuation = DataOOBValuation(model).fit(Dataset(X, y))
        seconds = time.perf_counter() - start
        result = valuation.result
        values = np.full(len(y), np.nan)
        values[np.asarray(result.indices)] = np.asarray(result.values)
        out[name] = {"X": X, "y": y, "model": model, "values": values, "seconds": seconds}
    with open(path, "wb") as f:
        pickle.dump(out, f)


def check(path):
    from sklearn.frozen import FrozenEstimator

    from skinfluence import DataOOBScorer

    with open(path, "rb") as f:
        cases = pickle.load(f)
    print("| case | max abs difference | pyDVL s | skinfluence s |\n|---|---|---|---|")
    for name, case in cases.items():
        start = time.perf_counter()
        ours = DataOOBScorer(FrozenEstimator(case["model"])).fit(case["X"], case["y"]).values_
        seconds = time.perf_counter() - start
        diff = np.nanmax(np.abs(ours - case["values"]))
        print(f"| {name} | {diff:.1e} | {case['seconds']:.2f} | {seconds:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--pydvl", metavar="PICKLE", help="fit and value with pyDVL")
    group.add_argument("--check", metavar="PICKLE", help="value the same forests here")
    args = parser.parse_args()
    run_pydvl(args.pydvl) if args.pydvl else check(args.check)
