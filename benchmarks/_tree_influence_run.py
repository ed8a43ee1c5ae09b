"""Run tree-influence 0.1.7 explainers in ITS OWN virtual environment (called by a subprocess).

Never imported by skinfluence or by the benchmark's process: ``bench_tree_influence.py``
pickles the fitted model and the data, runs this file with the peer environment's python and
reads the result back. Usage::

    <peer python> benchmarks/_tree_influence_run.py IN.pkl OUT.npz BoostIn LeafInfluence ...

``IN.pkl`` holds ``{"model", "X_train", "y_train", "X_test", "y_test"}``; ``OUT.npz`` gets, per
explainer, ``<name>`` = the (n_test, n_train) local influence (tree-influence returns
(n_train, n_test); transposed here) and ``<name>_seconds`` = explainer fit plus
``get_local_influence`` (``<name>_cpu_seconds``: the process's CPU time; with
``"repeats": {name: r}`` in IN.pkl, the medians of r runs). Convention (tree-influence
README): positive = the training row decreases the test row's loss, the sign of
skinfluence; the scale is the method's own.
"""

import pickle
import sys
import time

import numpy as np


def main(argv):
    in_path, out_path, *names = argv
    from tree_influence import explainers

    with open(in_path, "rb") as f:
        data = pickle.load(f)
    out = {}
    repeats = data.get("repeats", {})
    for name in names:
        wall, cpu = [], []
        for _ in range(repeats.get(name, 1)):
            explainer = getattr(explainers, name)()
            start, start_cpu = time.perf_counter(), time.process_time()
            explainer.fit(data["model"], data["X_train"], data["y_train"])
            influence = explainer.get_local_influence(data["X_test"], data["y_test"])
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        out[f"{name}_seconds"] = float(np.median(wall))
        out[f"{name}_cpu_seconds"] = float(np.median(cpu))
        out[name] = np.asarray(influence, dtype=np.float64).T
        print(f"{name}: {out[f'{name}_seconds']:.2f} s", file=sys.stderr, flush=True)
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1:])
