"""Targets of influence other than the test loss: predictions, margins, metrics, groups.

``InfluenceScorer.influence(X_test, y_test, target=...)`` estimates ``f(θ₋ᵢ) − f(θ)`` for a
quantity ``f`` of the test rows other than their loss. The training side never changes
(removing row i still removes ``w_i ℓ_i + c_i q`` from the training objective, so
``θ₋ᵢ − θ ≈ H⁻¹ (w_i ∇ℓ_i + c_i ∇q)``); only the *test-side* gradient does:
``influence[t, i] = ∇f_tᵀ H⁻¹ (w_i ∇ℓ_i + c_i ∇q)``.

Two kinds of target:

* **Per test row** (one number per row, an (n_test, n_train) matrix): ``"loss"``,
  ``"prediction"``, ``"margin"``, ``"logit"``. They are functions of the row's outputs η
  (the K values the loss consumes: logits, the linear predictor), so for a
  :class:`~skinfluence.models.GeneralizedLinear` adapter ``∇f_t = x̃_t ⊗ ∂f/∂η_t`` in closed
  form, and for torch nets an autograd per-sample gradient of f.
* **Of a set of test rows** (one scalar, a vector over training rows): a callable of the
  model's outputs on the set (:class:`OutputMetric`, e.g. :class:`AUROCSurrogate`), and the
  group-aware targets of the test losses (:class:`WorstGroupLoss`, :class:`GroupLossGap`).
  The test-side gradient is one vector ``Σ_t J_tᵀ ∂F/∂o_t``.

Families declare what they support with :attr:`ModelAdapter.output_link` (how their outputs
map to what ``predict_proba`` / ``predict`` / ``decision_function`` return) and
:meth:`ModelAdapter.supported_targets`; anything else is refused with an error that names
what the family supports.
"""

import numbers

import numpy as np
from scipy.special import expit, softmax

from .._utils._docstring import inherit_docstrings
from .._utils._labels import encode_labels

ROW_TARGETS = ("loss", "prediction", "margin", "logit")

# What each output link supports beyond "loss" (which every family supports).
#   logistic: one logit η per row, P = [1 − σ(η), σ(η)] (binary LogisticRegression, SGD log_loss)
#   softmax:  K logits, P = softmax(η) (multinomial LogisticRegression)
#   identity: regression, prediction = η;   log: regression, prediction = exp(η) (GLMs)
#   scores:   a classifier without probabilities, decision_function = η (RidgeClassifier, SVC)
LINK_TARGETS = {
    None: frozenset({"loss"}),
    "logistic": frozenset({"loss", "prediction", "margin", "logit", "metric"}),
    "softmax": frozenset({"loss", "prediction", "margin", "logit", "metric"}),
    "identity": frozenset({"loss", "prediction", "metric"}),
    "log": frozenset({"loss", "prediction", "metric"}),
    "scores": frozenset({"loss", "margin", "logit", "metric"}),
}
CLASSIFIER_LINKS = ("logistic", "softmax", "scores")


def link_targets(link):
    """The target kinds a family with this output link supports (see the module).

    Parameters
    ----------
    link : {"logistic", "softmax", "identity", "log", "scores"} or None
        The family's :attr:`~skinfluence.models.ModelAdapter.output_link`.

    Returns
    -------
    kinds : frozenset of str
        Among "loss", "prediction", "margin", "logit" and "metric" (set-level
        :class:`OutputMetric` targets).

    See Also
    --------
    ModelAdapter.supported_targets : what a fitted family declares.

    Examples
    --------
    >>> from skinfluence.models import link_targets
    >>> sorted(link_targets("identity"))
    ['loss', 'metric', 'prediction']
    """
    if link not in LINK_TARGETS:
        raise ValueError(f"Unknown output link {link!r}; choose one of {list(LINK_TARGETS)}.")
    return LINK_TARGETS[link]


# -- the model's outputs as sklearn returns them ------------------------------------------
def predictions_from_outputs(link, eta):
    """Map outputs η to what the estimator returns (predict_proba, decision_function, predict).

    ``predict_proba`` for probabilistic classifiers, ``decision_function`` for other
    classifiers, ``predict`` for regressors.

    Parameters
    ----------
    link : str
        The family's output link.
    eta : ndarray of shape (n, K)
        Outputs.

    Returns
    -------
    P : ndarray of shape (n, n_classes) or (n,) or (n, K)
        (n,) when K = 1 for regressors and scores.

    See Also
    --------
    OutputMetric : the metrics that take these outputs.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.models import predictions_from_outputs
    >>> predictions_from_outputs("logistic", np.array([[0.0]]))
    array([[0.5, 0.5]])
    """
    eta = np.asarray(eta, dtype=np.float64)
    if link == "logistic":
        p = expit(eta[:, 0])
        return np.column_stack([1 - p, p])
    if link == "softmax":
        return softmax(eta, axis=1)
    out = np.exp(eta) if link == "log" else eta
    return out[:, 0] if out.shape[1] == 1 else out


def _outputs_cotangent(link, eta, dP):
    """``(∂P_t/∂η_t)ᵀ dP_t`` for every row: the chain rule through the link, shape (n, K)."""
    dP = np.asarray(dP, dtype=np.float64)
    if link == "logistic":
        p = expit(eta[:, 0])
        return (p * (1 - p) * (dP[:, 1] - dP[:, 0]))[:, None]
    if link == "softmax":
        P = softmax(eta, axis=1)
        return P * (dP - np.sum(P * dP, axis=1, keepdims=True))
    dP = dP.reshape(eta.shape)
    return np.exp(eta) * dP if link == "log" else dP


# -- per-row targets ----------------------------------------------------------------------
class RowTarget:
    """A per-row target of a fitted family, with its value and gradient in the outputs.

    Built by :func:`row_target`; ``values(eta)`` and ``output_gradients(eta)`` for the
    test rows it was built for (their labels, or ``target_class``, fixed).

    Parameters
    ----------
    kind : str
        One of "loss", "prediction", "margin", "logit".
    link : str or None
        The family's output link.
    index : ndarray of int of shape (n,) or None
        The class (or output) each row's target refers to.
    loss : callable or None
        ``(eta, rows) ↦ ℓ`` and gradient, for kind "loss": a pair of callables.
    """

    def __init__(self, kind, link, index, loss=None):
        self.kind = kind
        self.link = link
        self.index = index
        self.loss = loss

    def _sign(self):
        # binary logistic / one-score classifiers: class 1 is +η, class 0 is −η
        return np.where(self.index == 1, 1.0, -1.0)

    def values(self, eta, rows=slice(None)):
        """Target values at outputs ``eta`` of ``rows`` (a slice or index array).

        Parameters
        ----------
        eta : ndarray of shape (n, K)
            Outputs of the rows.
        rows : slice or ndarray, default=slice(None)
            Which of the target's rows ``eta`` holds.

        Returns
        -------
        values : ndarray of shape (n,)
        """
        eta = np.asarray(eta, dtype=np.float64)
        if self.kind == "loss":
            return self.loss[0](eta, rows)
        idx = self.index[rows]
        n = len(eta)
        if self.kind == "prediction":
            if self.link == "logistic":
                return expit(self._sign()[rows] * eta[:, 0])
            if self.link == "softmax":
                return softmax(eta, axis=1)[np.arange(n), idx]
            out = eta[np.arange(n), idx]
            return np.exp(out) if self.link == "log" else out
        if eta.shape[1] == 1:  # logit and margin of a one-output classifier: ±η
            return self._sign()[rows] * eta[:, 0]
        own = eta[np.arange(n), idx]
        if self.kind == "logit":
            return own
        other = eta.copy()
        other[np.arange(n), idx] = -np.inf
        return own - other.max(axis=1)

    def output_gradients(self, eta, rows=slice(None)):
        """∂target/∂η of ``rows`` at outputs ``eta``, shape (n, K).

        Parameters
        ----------
        eta : ndarray of shape (n, K)
            Outputs of the rows.
        rows : slice or ndarray, default=slice(None)
            Which of the target's rows ``eta`` holds.

        Returns
        -------
        gradients : ndarray of shape (n, K)
        """
        eta = np.asarray(eta, dtype=np.float64)
        if self.kind == "loss":
            return self.loss[1](eta, rows)
        idx = self.index[rows]
        n, K = eta.shape
        ar = np.arange(n)
        D = np.zeros((n, K))
        if self.kind == "prediction":
            if self.link == "logistic":
                s = self._sign()[rows]
                p = expit(s * eta[:, 0])
                D[:, 0] = s * p * (1 - p)
            elif self.link == "softmax":
                P = softmax(eta, axis=1)
                Pc = P[ar, idx]
                D = -Pc[:, None] * P
                D[ar, idx] += Pc
            else:
                D[ar, idx] = np.exp(eta[ar, idx]) if self.link == "log" else 1.0
            return D
        if K == 1:
            D[:, 0] = self._sign()[rows]
            return D
        D[ar, idx] = 1.0
        if self.kind == "margin":
            other = eta.copy()
            other[ar, idx] = -np.inf
            D[ar, other.argmax(axis=1)] -= 1.0  # a subgradient at ties
        return D


def class_index(classes, link, y, target_class, n_outputs):
    """The class (classifiers) or output (regressors) each row's target refers to."""
    if link in CLASSIFIER_LINKS:
        if target_class is None and np.ndim(y) != 1:
            raise ValueError(
                f"y has shape {np.shape(y)}: a per-row class target needs 1-D labels; pass "
                "target_class= to name the class (output) of every row's target."
            )
        if target_class is not None and target_class not in list(classes):
            raise ValueError(
                f"target_class={target_class!r} is not one of the classes {list(classes)}."
            )
        if target_class is not None:
            return np.full(len(y), list(classes).index(target_class), dtype=int)
        return encode_labels(classes, np.asarray(y))
    if target_class is None:
        if n_outputs > 1:
            raise ValueError(
                f"The model has {n_outputs} outputs: pass target_class=<output index> to say "
                "which prediction the target is."
            )
        return np.zeros(len(y), dtype=int)
    if not isinstance(target_class, numbers.Integral) or not 0 <= target_class < n_outputs:
        raise ValueError(
            f"For a regressor target_class is an output index in [0, {n_outputs}); "
            f"got {target_class!r}."
        )
    return np.full(len(y), int(target_class), dtype=int)


def check_target_support(adapter, kind):
    """Refuse a target kind the adapter's family does not declare, saying what it supports."""
    supported = adapter.supported_targets()
    if kind not in supported:
        family = type(getattr(adapter, "estimator", adapter)).__name__
        what = {"metric": "a metric of the model's outputs (OutputMetric or a callable)"}.get(
            kind, f"target={kind!r}"
        )
        raise ValueError(
            f"{family} ({type(adapter).__name__}) does not support {what}; it supports "
            f"{sorted(supported)}. Probabilities need a probabilistic classifier, margins and "
            "logits a classifier; use target='loss' or a supported family."
        )


# -- targets of a set of test rows --------------------------------------------------------
class SetTarget:
    """Base class of the targets that are one scalar of a whole set of test rows.

    Subclasses are either metrics of the model's outputs (:class:`OutputMetric`) or of the
    test rows' losses (:class:`WorstGroupLoss`, :class:`GroupLossGap`). ``influence`` then
    returns one number per training row (or group): ``F(θ₋ᵢ) − F(θ)``.

    See Also
    --------
    OutputMetric, WorstGroupLoss, GroupLossGap : the set targets.

    Examples
    --------
    >>> from skinfluence.models import SetTarget, WorstGroupLoss
    >>> isinstance(WorstGroupLoss(), SetTarget)
    True
    """

    needs_groups = False


class OutputMetric(SetTarget):
    """A scalar metric of the model's outputs on a set of test rows, as a target.

    ``func(P, y)`` receives ``P``: what ``predict_proba`` returns for probabilistic
    classifiers (n, n_classes), ``decision_function`` for other classifiers, ``predict`` for
    regressors ((n,) for one output), and the test labels. Its gradient in P is ``gradient(P,
    y)`` when given, else central finite differences in P (2·n·K calls of ``func``; exact to
    about 1e-9 for smooth metrics). The chain rule through the model is the adapter's: closed
    form for linear models, autograd for torch nets. A non-differentiable metric (accuracy,
    AUROC) has no useful gradient: use a smooth surrogate such as :class:`AUROCSurrogate`.

    Parameters
    ----------
    func : callable
        ``func(P, y) -> float``.
    gradient : callable, default=None
        ``gradient(P, y) -> ndarray`` of P's shape, ∂func/∂P.
    step : float, default=1e-6
        Finite-difference step (relative to ``max(1, |P|)``) when ``gradient`` is None.

    See Also
    --------
    AUROCSurrogate : a smooth surrogate of AUROC.
    WorstGroupLoss, GroupLossGap : targets of the test losses by group.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.models import OutputMetric
    >>> mean_p1 = OutputMetric(lambda P, y: P[:, 1].mean())
    >>> P = np.array([[0.2, 0.8], [0.6, 0.4]])
    >>> round(mean_p1(P, None), 6), mean_p1.gradient_of(P, None).round(6).tolist()
    (0.6, [[0.0, 0.5], [0.0, 0.5]])
    """

    def __init__(self, func, gradient=None, step=1e-6):
        if not callable(func):
            raise TypeError(f"func must be callable; got {type(func).__name__}.")
        self.func = func
        self.gradient = gradient
        self.step = step

    def __call__(self, P, y):
        return float(self.func(P, y))

    def gradient_of(self, P, y):
        """∂func/∂P at P: ``gradient`` when given, else central finite differences.

        Parameters
        ----------
        P : ndarray
            The model's outputs on the rows.
        y : array-like
            Their labels.

        Returns
        -------
        dP : ndarray of P's shape
        """
        P = np.asarray(P, dtype=np.float64)
        if self.gradient is not None:
            return np.asarray(self.gradient(P, y), dtype=np.float64).reshape(P.shape)
        out = np.empty_like(P)
        flat, dflat = P.reshape(-1), out.reshape(-1)
        for j in range(flat.size):
            h = self.step * max(1.0, abs(flat[j]))
            keep = flat[j]
            flat[j] = keep + h
            up = self(P, y)
            flat[j] = keep - h
            down = self(P, y)
            flat[j] = keep
            dflat[j] = (up - down) / (2 * h)
        return out


class AUROCSurrogate(OutputMetric):
    """A smooth surrogate of AUROC: the mean pairwise logistic of score differences.

    ``F = mean over (positive i, negative j) of σ((s_i − s_j) / τ)`` with ``s`` the
    probability of ``pos_label`` (or the decision score / prediction for models without
    probabilities). As τ → 0 it tends to AUROC (the fraction of correctly ordered pairs);
    it is a **surrogate**, differentiable where AUROC is piecewise constant, so its
    influence says which rows move the ranking, not the exact AUROC change of a removal.
    O(n_pos · n_neg) per evaluation.

    See Also
    --------
    OutputMetric : any metric of the outputs.

    Parameters
    ----------
    temperature : float, default=0.05
        τ, in units of the score.
    pos_label : label, default=None
        The positive class; None: the larger of two labels.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.models import AUROCSurrogate
    >>> P = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    >>> round(AUROCSurrogate(temperature=0.01)(P, np.array([1, 0, 0])), 3)
    1.0
    """

    def __init__(self, temperature=0.05, pos_label=None):
        super().__init__(self._value, self._gradient)
        self.temperature = temperature
        self.pos_label = pos_label

    def _split(self, P, y):
        y = np.asarray(y)
        labels = np.unique(y)
        pos = labels.max() if self.pos_label is None else self.pos_label
        s = P[:, 1] if P.ndim == 2 and P.shape[1] == 2 else P.reshape(len(y), -1)[:, -1]
        positive = y == pos
        if positive.all() or not positive.any():
            raise ValueError("AUROCSurrogate needs test rows of both classes.")
        return s, positive

    def _value(self, P, y):
        s, positive = self._split(P, y)
        diff = (s[positive][:, None] - s[~positive][None, :]) / self.temperature
        return float(expit(diff).mean())

    def _gradient(self, P, y):
        s, positive = self._split(P, y)
        diff = (s[positive][:, None] - s[~positive][None, :]) / self.temperature
        d = expit(diff) * (1 - expit(diff)) / (self.temperature * diff.size)
        ds = np.zeros(len(s))
        ds[positive] = d.sum(axis=1)
        ds[~positive] = -d.sum(axis=0)
        out = np.zeros_like(P, dtype=np.float64)
        if P.ndim == 2 and P.shape[1] == 2:
            out[:, 1] = ds
        else:
            out.reshape(len(s), -1)[:, -1] = ds
        return out


class LossMetric(SetTarget):
    """Base class of the set targets that are functions of the test rows' losses.

    ``weights(losses, groups) -> (value, ∂F/∂ℓ)``; the test-side gradient is then
    ``Σ_t ∂F/∂ℓ_t ∇ℓ_t``, which every adapter family computes (no output map needed).
    """

    needs_groups = True

    def weights(self, losses, groups):  # pragma: no cover - abstract
        """Return the target's value and its gradient in the test losses.

        Parameters
        ----------
        losses : ndarray of shape (n,)
            The per-row test losses.
        groups : ndarray of shape (n,)
            The test rows' groups.

        Returns
        -------
        value : float
            F.
        weights : ndarray of shape (n,)
            ∂F/∂ℓ_t.
        """
        raise NotImplementedError


@inherit_docstrings
class WorstGroupLoss(LossMetric):
    """The largest mean test loss over groups of test rows (``test_groups=``).

    ``F = max_g mean_{t∈g} ℓ_t``. Its gradient is that of the worst group's mean loss: the
    first-order influence is exact while the worst group stays the worst (a maximum is not
    differentiable where two groups tie).

    See Also
    --------
    GroupLossGap : the gap between two groups.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.models import WorstGroupLoss
    >>> value, w = WorstGroupLoss().weights(np.array([1.0, 3.0, 2.0]), np.array([0, 1, 1]))
    >>> value, w.tolist()
    (2.5, [0.0, 0.5, 0.5])
    """

    def weights(self, losses, groups):
        _, codes = np.unique(groups, return_inverse=True)
        means = np.bincount(codes, losses) / np.bincount(codes)
        worst = int(np.argmax(means))
        w = (codes == worst) / np.sum(codes == worst)
        return float(means[worst]), w.astype(np.float64)


@inherit_docstrings
class GroupLossGap(LossMetric):
    """The gap of mean test loss between two groups of test rows (``test_groups=``).

    ``F = mean_{t∈b} ℓ_t − mean_{t∈a} ℓ_t``: positive influence of a training row = removing
    it widens the gap (the row narrows it).

    Parameters
    ----------
    group_a, group_b : label, default=None
        The two groups; None: the two labels of ``test_groups`` in sorted order (it must
        have exactly two).

    See Also
    --------
    WorstGroupLoss : the worst group's mean loss.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.models import GroupLossGap
    >>> value, w = GroupLossGap().weights(np.array([1.0, 3.0, 2.0]), np.array([0, 1, 1]))
    >>> value, w.tolist()
    (1.5, [-1.0, 0.5, 0.5])
    """

    def __init__(self, group_a=None, group_b=None):
        self.group_a = group_a
        self.group_b = group_b

    def weights(self, losses, groups):
        groups = np.asarray(groups)
        if self.group_a is None or self.group_b is None:
            labels = np.unique(groups)
            if len(labels) != 2:
                raise ValueError(
                    f"test_groups has {len(labels)} groups; GroupLossGap() needs two, or pass "
                    "GroupLossGap(group_a, group_b)."
                )
            a, b = labels
        else:
            a, b = self.group_a, self.group_b
        in_a, in_b = groups == a, groups == b
        if not in_a.any() or not in_b.any():
            raise ValueError(f"test_groups has no row of group {a if not in_a.any() else b!r}.")
        w = in_b / in_b.sum() - in_a / in_a.sum()
        return float(w @ losses), w.astype(np.float64)


STRING_SET_TARGETS = {"worst_group_loss": WorstGroupLoss, "loss_gap": GroupLossGap}


def resolve_target(target):
    """``target=`` as a row kind (str) or a :class:`SetTarget` instance."""
    if isinstance(target, str):
        if target in ROW_TARGETS:
            return target
        if target in STRING_SET_TARGETS:
            return STRING_SET_TARGETS[target]()
        raise ValueError(
            f"Unknown target {target!r}; choose one of {[*ROW_TARGETS, *STRING_SET_TARGETS]}, "
            "an OutputMetric / WorstGroupLoss / GroupLossGap, or a callable f(P, y) -> float."
        )
    if isinstance(target, SetTarget):
        return target
    if callable(target):
        return OutputMetric(target)
    raise TypeError(f"target must be a string, a SetTarget or a callable; got {target!r}.")


# -- evaluation on any fitted model (the ground truth of retraining) ----------------------
def glm_row_target(adapter, y, kind, target_class=None):
    """The :class:`RowTarget` of a GeneralizedLinear adapter's test rows (X, y)."""
    check_target_support(adapter, kind)
    link = adapter.output_link
    index = None
    if kind != "loss":
        index = class_index(
            getattr(adapter.estimator, "classes_", None), link, y, target_class, adapter.n_outputs
        )
    t = adapter.encode_target(y)
    loss = (
        lambda eta, rows: adapter.loss_from_outputs(eta, np.asarray(y)[rows]),
        lambda eta, rows: adapter.output_gradients(eta, t[rows]),
    )
    return RowTarget(kind, link, index, loss)


def set_target_cotangent(adapter, target, eta, y, test_groups):
    """(F, ∂F/∂η) of a set target on the outputs η of a GeneralizedLinear adapter's rows."""
    if isinstance(target, LossMetric):
        t = adapter.encode_target(y)
        losses = adapter.loss_from_outputs(eta, y)
        value, w = target.weights(losses, test_groups)
        return value, w[:, None] * adapter.output_gradients(eta, t)
    check_target_support(adapter, "metric")
    P = predictions_from_outputs(adapter.output_link, eta)
    return target(P, y), _outputs_cotangent(adapter.output_link, eta, target.gradient_of(P, y))


def set_target_value(adapter, target, eta, y, test_groups):
    """F of a set target at outputs η (GeneralizedLinear adapters)."""
    if isinstance(target, LossMetric):
        return target.weights(adapter.loss_from_outputs(eta, y), test_groups)[0]
    return target(predictions_from_outputs(adapter.output_link, eta), y)


def evaluate_target(estimator, X, y, target, target_class=None, test_groups=None):
    """The target's value for a fitted estimator: per row (n,) or a scalar for set targets.

    The ground truth that retraining-based scorers compare (``LeaveOneOutScorer``), computed
    from the estimator's adapter outputs where it has a GeneralizedLinear adapter (the same
    quantity ``InfluenceScorer`` differentiates), else from ``predict_proba`` /
    ``decision_function`` / ``predict`` and the scorers' per-sample loss.

    Parameters
    ----------
    estimator : estimator
        Fitted.
    X, y : array-like
        Test rows and labels.
    target : str, SetTarget or callable
        As ``InfluenceScorer.influence``.
    target_class : label, default=None
        As ``InfluenceScorer.influence``.
    test_groups : array-like of shape (n,), default=None
        Groups of the test rows (group targets).

    Returns
    -------
    values : ndarray of shape (n,) or float

    See Also
    --------
    LeaveOneOutScorer : compares it between refit models.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.models import evaluate_target
    >>> X, y = load_iris(return_X_y=True)
    >>> model = LogisticRegression(max_iter=1000).fit(X, y)
    >>> evaluate_target(model, X[:2], y[:2], "prediction").round(2)
    array([0.98, 0.97])
    """
    from ._base import GeneralizedLinear
    from ._registry import adapter_for

    target = resolve_target(target)
    try:
        adapter = adapter_for(estimator)
    except TypeError:
        adapter = None
    if isinstance(adapter, GeneralizedLinear):
        eta = adapter.outputs(adapter.features(X))
        if isinstance(target, SetTarget):
            return set_target_value(adapter, target, eta, y, test_groups)
        return glm_row_target(adapter, y, target, target_class).values(eta)
    from ..scorers._losses import per_sample_loss

    if isinstance(target, LossMetric):
        return target.weights(per_sample_loss(estimator, X, y), test_groups)[0]
    if isinstance(target, OutputMetric):
        P = estimator.predict_proba(X) if hasattr(estimator, "predict_proba") else None
        if P is None:
            P = (
                estimator.decision_function(X)
                if hasattr(estimator, "decision_function")
                else estimator.predict(X)
            )
        return target(P, y)
    if target == "loss":
        return per_sample_loss(estimator, X, y)
    if target == "prediction" and hasattr(estimator, "predict_proba"):
        idx = class_index(estimator.classes_, "softmax", y, target_class, 0)
        return estimator.predict_proba(X)[np.arange(len(idx)), idx]
    if target == "prediction" and not hasattr(estimator, "classes_"):
        pred = np.asarray(estimator.predict(X), dtype=np.float64)
        return pred if pred.ndim == 1 else pred[:, target_class or 0]
    raise ValueError(
        f"target={target!r} cannot be evaluated on {type(estimator).__name__} without a "
        "linear adapter; use 'loss', 'prediction' or a set target."
    )


# -- scikit-learn MLPs: the target's output gradient back-propagated -------------------------
def mlp_output_link(adapter):
    """The output link of a scikit-learn MLP adapter (None for multilabel classifiers)."""
    kind = adapter._kind
    if kind == "softmax":
        return "softmax"
    if kind == "logistic":
        return None if adapter._multilabel else "logistic"
    return "log" if kind == "exp" else "identity"


def mlp_outputs(adapter, X):
    """The last pre-activation z (n, K) of a scikit-learn MLP on raw rows X."""
    from . import _mlp_math

    Xf = adapter.features(X)
    _, z = _mlp_math.forward(adapter._coefs, adapter._intercepts, adapter.estimator.activation, Xf)
    return z


def mlp_cotangent_gradients(adapter, X, D):
    """Per-row gradients ``J_iᵀ D_i`` of an MLP for output cotangents D (n, K): the backward
    pass with D in place of the loss's residual, an MLPGradientMatrix (never n × p)."""
    from . import _mlp_math
    from ._mlp import MLPGradientMatrix

    Xf = adapter.features(X)
    act = adapter.estimator.activation
    inputs, _ = _mlp_math.forward(adapter._coefs, adapter._intercepts, act, Xf)
    deltas = [None] * len(adapter._coefs)
    deltas[-1] = np.asarray(D, dtype=np.float64)
    for layer in range(len(adapter._coefs) - 1, 0, -1):
        d1, _ = _mlp_math._derivatives(act, inputs[layer])
        deltas[layer - 1] = (deltas[layer] @ adapter._coefs[layer].T) * d1
    return MLPGradientMatrix(inputs, deltas)


def outputs_row_target(adapter, y, kind, target_class, n_outputs):
    """The :class:`RowTarget` of a non-loss per-row kind, for a family with an output link."""
    check_target_support(adapter, kind)
    classes = getattr(adapter.estimator, "classes_", None)
    link = adapter.output_link
    return RowTarget(kind, link, class_index(classes, link, y, target_class, n_outputs))
