"""Run pyDVL 0.10's ``EkfacInfluence`` in ITS OWN virtual environment (a subprocess).

Never imported by skinfluence: ``bench_kronfluence.py`` saves the MLP's weights and the
data to ``IN.npz`` (as for ``_kronfluence_run.py``), runs this file with pyDVL's python and
reads ``OUT.npz``: ``scores`` (queries × training rows, ``influences(mode=Up)`` =
∇ℓ_qᵀ (F̂ + damping)⁻¹ ∇ℓ_i) and ``seconds`` (fit with the eigenvalue correction,
``update_diagonal=True``, plus the scores; one run). Usage::

    <pyDVL python> benchmarks/_pydvl_ekfac_run.py IN.npz OUT.npz

pyDVL's curvature (read from ``influence_function_model.py``): the mean over rows of the
outer products of one pseudo-gradient per row, the backward pass of ``Σ_k √p_k log p_k``
(``empirical_cross_entropy_loss_fn``), in float32; ``hessian_regularization`` is added to
the corrected eigenvalues, as Kronfluence's damping is.
"""

import sys
import time
import warnings

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class MLP(nn.Module):
    def __init__(self, d=18, h=32, k=7):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, h), nn.Linear(h, k)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def main(argv):
    in_path, out_path = argv
    import pydvl
    from pydvl.influence import InfluenceMode
    from pydvl.influence.torch import EkfacInfluence

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    d = np.load(in_path)
    model = MLP()
    names = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
    model.load_state_dict({k: torch.as_tensor(d[k], dtype=torch.float32) for k in names})
    model.eval()
    X, y = torch.as_tensor(d["X"], dtype=torch.float32), torch.as_tensor(d["y"])
    Xq, yq = torch.as_tensor(d["Xq"], dtype=torch.float32), torch.as_tensor(d["yq"])
    start = time.perf_counter()
    loader = DataLoader(TensorDataset(X, y), batch_size=len(y))
    influence = EkfacInfluence(
        model, update_diagonal=True, hessian_regularization=float(d["damping"])
    ).fit(loader)
    scores = influence.influences(Xq, yq, X, y, mode=InfluenceMode.Up)
    seconds = time.perf_counter() - start
    np.savez(out_path, scores=scores.detach().double().numpy(), seconds=seconds,
             version=pydvl.__version__)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
