"""The device path (issue 18 §5): torch models' solves and influence stay on the net's device.

Each solver on a torch net is run twice: through its torch backend (``TorchBackend``, the
default for torch models) and through the numpy path the solvers took before it (forced by
hiding the adapter's ``array_backend``). The two must agree to rounding (CG, whose rounding
errors grow with its iterations, to its tolerance as well). Host round trips are caught by
counting ``torch.Tensor.cpu`` / ``torch.Tensor.numpy`` calls (``np.asarray`` of a tensor goes
through ``numpy``) during a solve on a tensor: there must be none. Tests run on the CPU and,
where a CUDA device is present, on it too (skipped otherwise, with the reason).
"""

import contextlib
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skinfluence import InfluenceScorer  # noqa: E402
from skinfluence.inverse import make_solver  # noqa: E402
from skinfluence.inverse._backend import NUMPY, TorchBackend, backend_for  # noqa: E402
from skinfluence.models import TorchAdapter, TorchModule, adapter_for, with_curvature  # noqa: E402
from skinfluence.scorers import _device  # noqa: E402

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(),
            reason="no CUDA device (torch.cuda.is_available() is False): the device path is "
            "tested on the CPU only",
        ),
    ),
]

SOLVERS = [
    ("direct", {}),
    ("cg", {"rtol": 1e-12, "maxiter": 2000}),
    ("cg", {"block": False, "rtol": 1e-10}),
    ("lissa", {"depth": 300}),
    ("lissa", {"depth": 20, "batch_size": 20, "repeats": 2, "random_state": 0}),
    ("lissa", {"depth": 200, "dtype": np.float32}),
    ("arnoldi", {"rank": 30}),
    ("arnoldi", {"rank": 30, "remainder": "drop"}),
]


def _net(device="cpu"):
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(5, 8, dtype=torch.float64),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 3, dtype=torch.float64),
    ).to(device)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = (X[:, :3] + 0.5 * rng.normal(size=(60, 3))).argmax(axis=1)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05, weight_decay=1e-2)
    Xt, yt = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    for _ in range(100):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(Xt), yt).backward()
        optimizer.step()
    model = TorchModule(module, torch.nn.CrossEntropyLoss(), classes=[0, 1, 2], weight_decay=1e-2)
    return model, X, y


@contextlib.contextmanager
def numpy_path():
    """The solvers' and scorers' numpy path for torch models (as before the backends)."""
    saved = TorchAdapter.array_backend
    TorchAdapter.array_backend = property(lambda self: None)
    try:
        yield
    finally:
        TorchAdapter.array_backend = saved


@contextlib.contextmanager
def count_host_copies():
    """Count ``Tensor.cpu`` and ``Tensor.numpy`` calls (the ways a tensor reaches numpy)."""
    calls = []
    saved = torch.Tensor.cpu, torch.Tensor.numpy

    def cpu(self, *args, **kwargs):
        calls.append("cpu")
        return saved[0](self, *args, **kwargs)

    def numpy(self, *args, **kwargs):
        calls.append("numpy")
        return saved[1](self, *args, **kwargs)

    torch.Tensor.cpu, torch.Tensor.numpy = cpu, numpy
    try:
        yield calls
    finally:
        torch.Tensor.cpu, torch.Tensor.numpy = saved


@pytest.fixture(scope="module")
def problem():
    model, X, y = _net()
    adapter = with_curvature(adapter_for(model), "gauss-newton")
    G = adapter.gradients(X[:7], y[:7]).dense_rows(slice(None)).T
    return adapter, X, y, G


def test_backend_of_torch_and_other_adapters(problem, wine):
    adapter = problem[0]
    backend = backend_for(adapter)  # looked up through the Gauss–Newton view
    assert isinstance(backend, TorchBackend) and backend.device == torch.device("cpu")
    from sklearn.linear_model import LogisticRegression

    X, y = wine
    assert backend_for(adapter_for(LogisticRegression(max_iter=1000).fit(X, y))) is NUMPY
    with numpy_path():
        assert backend_for(adapter) is NUMPY
    import pickle

    assert pickle.loads(pickle.dumps(backend)).device == backend.device


@pytest.mark.parametrize(("method", "params"), SOLVERS)
def test_torch_path_equals_numpy_path(problem, method, params):
    """Same solver, same products: the torch recursion gives the numpy recursion's result."""
    adapter, X, y, G = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver = make_solver(method, damping=0.05, **params).fit(adapter, X, y)
        on_device = solver.solve(torch.as_tensor(G))
        with numpy_path():
            reference = make_solver(method, damping=0.05, **params).fit(adapter, X, y).solve(G)
    assert isinstance(on_device, torch.Tensor) and on_device.dtype == torch.float64
    assert isinstance(reference, np.ndarray)
    scale = np.abs(reference).max()
    # CG's rounding errors grow over its iterations (different summation orders of the
    # column dot products): the two runs agree to its tolerance, the others to rounding
    # (single precision: float32 rounding over the recursion, whose kernels differ between
    # torch and numpy by machine; measured 2.3e-7 of the scale at depth 200)
    tol = 1e-9 if method == "cg" else 1e-12
    if params.get("dtype") == np.float32:
        tol = 1e-5
    np.testing.assert_allclose(on_device.numpy(), reference, rtol=0, atol=tol * scale)
    # an ndarray in gives an ndarray out, with the same numbers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "random_state" in params:
            solver._rng = np.random.RandomState(params["random_state"])
        again = solver.solve(G)
    assert isinstance(again, np.ndarray)
    np.testing.assert_allclose(again, on_device.numpy(), rtol=0, atol=1e-9 * scale)


def test_cg_first_iterations_agree_to_rounding(problem):
    """Before CG's rounding growth, the two paths agree to the last digits."""
    adapter, X, y, G = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = make_solver("cg", damping=0.05, maxiter=5).fit(adapter, X, y).solve(torch.tensor(G))
        with numpy_path():
            b = make_solver("cg", damping=0.05, maxiter=5).fit(adapter, X, y).solve(G)
    np.testing.assert_allclose(a.numpy(), b, rtol=0, atol=1e-13 * np.abs(b).max())


@pytest.mark.parametrize(("method", "params"), SOLVERS)
def test_solve_on_a_tensor_never_copies_to_the_host(problem, method, params):
    """Fails if any step of the iteration goes through numpy (``.cpu()`` / ``.numpy()``)."""
    adapter, X, y, G = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver = make_solver(method, damping=0.05, **params).fit(adapter, X, y)
        V = torch.as_tensor(G)
        solver.solve(V)  # first call: caches built (the operator's trace, device factors)
        if params.get("block") is False:  # scipy's CG: on the host by design
            pytest.skip("block=False runs scipy's CG on the host (documented)")
        with count_host_copies() as calls:
            out = solver.solve(V)
    assert calls == [], f"{method} copied to the host {len(calls)} times: {calls[:5]}"
    assert out.device == V.device


def test_numpy_path_does_copy(problem):
    """The counter can fail: the numpy path copies every product to the host."""
    adapter, X, y, G = problem
    with numpy_path():
        solver = make_solver("lissa", damping=0.05, depth=50).fit(adapter, X, y)
        with count_host_copies() as calls:
            solver.solve(G)
    assert len(calls) >= 50


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["direct", "cg", "lissa", "arnoldi", "identity"])
def test_scorer_on_the_device_equals_the_numpy_path(device, method):
    """Influence, its sum and self-influence through the device path equal the numpy
    path's; no host gradient block is made and the host copies are the result blocks."""
    model, X, y = _net(device)
    params = {"cg": {"rtol": 1e-12}, "lissa": {"depth": 300}, "arnoldi": {"rank": 30}}
    kwargs = {"method": method, "damping": 0.05, "solver_params": params.get(method)}
    scorer = InfluenceScorer(model, chunk_size=16, **kwargs).fit(X[:40], y[:40])
    assert _device.device_backend(scorer) is not None
    from skinfluence.torch._adapter import TorchGradientMatrix

    saved = TorchGradientMatrix.dense_rows

    def refuse(self, rows):
        raise AssertionError("a host gradient block was made on the device path")

    TorchGradientMatrix.dense_rows = refuse
    try:
        with count_host_copies() as calls:
            influence = scorer.influence(X[40:], y[40:])
        total = scorer.influence(X[40:], y[40:], aggregate="sum")
        scores = scorer.scores_
    finally:
        TorchGradientMatrix.dense_rows = saved
    # 20 test rows × 40 training rows in chunks of 16: 2 × 3 result blocks, one copy each
    # (the test labels and the training weights go to the device, not back)
    assert len(calls) <= 2 * 3 * 2, calls
    with numpy_path():
        reference = InfluenceScorer(model, chunk_size=16, **kwargs).fit(X[:40], y[:40])
        assert _device.device_backend(reference) is None
        ref_influence = reference.influence(X[40:], y[40:])
        ref_total = reference.influence(X[40:], y[40:], aggregate="sum")
        ref_scores = reference.scores_
    tol = (1e-8 if method == "cg" else 1e-11) * np.abs(ref_influence).max()
    np.testing.assert_allclose(influence, ref_influence, rtol=0, atol=tol)
    np.testing.assert_allclose(total, ref_total, rtol=0, atol=tol * len(y[40:]))
    np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=tol)
    np.testing.assert_allclose(total, influence.sum(axis=0), rtol=1e-8, atol=tol)


@pytest.mark.parametrize("device", DEVICES)
def test_solvers_keep_tensors_on_the_nets_device(device):
    model, X, y = _net(device)
    adapter = with_curvature(adapter_for(model), "gauss-newton")
    assert backend_for(adapter).device.type == device
    V = adapter.gradients(X[:3], y[:3])
    V = next(V.iter_tensors())[1].T
    assert V.device.type == device
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method, params in SOLVERS:
            if params.get("block") is False:
                continue
            out = make_solver(method, damping=0.05, **params).fit(adapter, X, y).solve(V)
            assert out.device.type == device and out.shape == V.shape, method
