"""Run Kronfluence 1.0's EK-FAC in ITS OWN virtual environment (called by a subprocess).

Never imported by skinfluence or by the benchmark's process: ``bench_kronfluence.py``
saves the trained MLP's weights and the data to ``IN.npz``, runs this file with the peer
environment's python and reads ``OUT.npz`` back. Usage::

    <peer python> benchmarks/_kronfluence_run.py IN.npz OUT.npz WORKDIR

``IN.npz`` holds ``X, y`` (training rows), ``Xq, yq`` (query rows), the 18-32-7 tanh MLP's
``fc1.weight, fc1.bias, fc2.weight, fc2.bias``, ``damping`` (Kronfluence's damping factor,
added to every corrected eigenvalue of its *mean* Fisher) and ``seed``. For each variant
(``true-f32``: Kronfluence's defaults, the true Fisher with one label per row sampled from
the model, float32 statistics; ``true-f64``: the same in float64; ``empirical-f64``: the
empirical Fisher, true labels) ``OUT.npz`` gets ``scores_<variant>`` (queries × training
rows: ∇ℓ_qᵀ (F̂ + damping)⁻¹ ∇ℓ_i, Kronfluence's pairwise scores) and ``seconds_<variant>``
(factors + scores, one run; the factors written to WORKDIR as Kronfluence does), and its
factors as ``factor_<variant>:<name>:<module>`` (as stored: covariances summed, with their
counts).
"""

import sys
import time
import warnings

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

VARIANTS = {
    "true-f32": dict(use_empirical_fisher=False, dtype=torch.float32),
    "true-f64": dict(use_empirical_fisher=False, dtype=torch.float64),
    "empirical-f64": dict(use_empirical_fisher=True, dtype=torch.float64),
}


class MLP(nn.Module):
    def __init__(self, d=18, h=32, k=7):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, h), nn.Linear(h, k)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def main(argv):
    in_path, out_path, workdir = argv
    from kronfluence.analyzer import Analyzer, prepare_model
    from kronfluence.arguments import FactorArguments, ScoreArguments
    from kronfluence.task import Task

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    d = np.load(in_path)
    out = {}

    class Classification(Task):
        def compute_train_loss(self, batch, model, sample=False):
            x, t = batch
            logits = model(x)
            if sample:  # the true Fisher: labels drawn from the model's distribution
                with torch.no_grad():
                    t = torch.multinomial(torch.softmax(logits.detach(), -1), 1).flatten()
            return nn.functional.cross_entropy(logits, t, reduction="sum")

        def compute_measurement(self, batch, model):
            x, t = batch
            return nn.functional.cross_entropy(model(x), t, reduction="sum")

    for name, variant in VARIANTS.items():
        dtype = variant["dtype"]
        torch.manual_seed(int(d["seed"]))
        model = MLP().to(dtype)
        model.load_state_dict(
            {k: torch.as_tensor(d[k], dtype=dtype) for k in ("fc1.weight", "fc1.bias",
                                                              "fc2.weight", "fc2.bias")}
        )  # fmt: skip
        model.eval()
        train = TensorDataset(torch.as_tensor(d["X"], dtype=dtype), torch.as_tensor(d["y"]))
        query = TensorDataset(torch.as_tensor(d["Xq"], dtype=dtype), torch.as_tensor(d["yq"]))
        start = time.perf_counter()
        task = Classification()
        model = prepare_model(model, task)
        analyzer = Analyzer(f"kfac-{name}", model, task, cpu=True, disable_tqdm=True,
                            output_dir=workdir)  # fmt: skip
        factor_args = FactorArguments(
            strategy="ekfac",
            use_empirical_fisher=variant["use_empirical_fisher"],
            activation_covariance_dtype=dtype,
            gradient_covariance_dtype=dtype,
            per_sample_gradient_dtype=dtype,
            lambda_dtype=dtype,
        )
        analyzer.fit_all_factors("ekfac", train, per_device_batch_size=len(train),
                                 factor_args=factor_args, overwrite_output_dir=True)  # fmt: skip
        score_args = ScoreArguments(damping_factor=float(d["damping"]),
                                    score_dtype=dtype, per_sample_gradient_dtype=dtype,
                                    precondition_dtype=dtype)  # fmt: skip
        analyzer.compute_pairwise_scores(
            "scores", "ekfac", query, train, per_device_query_batch_size=len(query),
            per_device_train_batch_size=len(train), score_args=score_args,
            overwrite_output_dir=True,
        )  # fmt: skip
        scores = analyzer.load_pairwise_scores("scores")["all_modules"]
        out[f"seconds_{name}"] = time.perf_counter() - start
        out[f"scores_{name}"] = scores.detach().double().numpy()
        for factor, per_module in analyzer.load_all_factors("ekfac").items():
            for module, value in per_module.items():
                out[f"factor_{name}:{factor}:{module}"] = value.detach().double().numpy()
    import kronfluence

    out["version"] = kronfluence.__version__
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1:])
