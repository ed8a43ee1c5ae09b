"""The numpy forward, backward and R-operator passes of scikit-learn's multi-layer perceptron.

A net of L layers maps a row ``a_0 = x`` through ``z_l = a_l W_l + b_l`` and, for the hidden
layers, ``a_{l+1} = f(z_l)`` (``activation``); the last pre-activation ``z = z_{L-1}`` enters
the loss through the output activation, and every pairing scikit-learn uses is canonical
(softmax with the log-loss, logistic with the binary log-loss, identity with half the squared
error, exp with half the Poisson deviance), so that ``∂ℓ/∂z = out(z) − t``: the quantity
scikit-learn's ``_backprop`` starts from.

Gradients are back-propagated as in ``_backprop``: ``δ_{L-1} = ∂ℓ/∂z``,
``δ_{l-1} = (δ_l W_lᵀ) ⊙ f'(a_l)``, and ``∇_{W_l} ℓ = a_l ⊗ δ_l``, ``∇_{b_l} ℓ = δ_l``.
Hessian-vector products are exact, by Pearlmutter's (1994) R-operator: one forward pass of
the directional derivatives ``R{z_l}``, one backward pass of ``R{δ_l}`` (which needs f'' of the
hidden activation and the output curvature ``∂²ℓ/∂z²``), at about twice the cost of a gradient.
``relu``'s f'' is 0 wherever it is defined (everywhere but z = 0, where scikit-learn also
takes f' = 0): its Hessian is exact almost everywhere, and the curvature comes only from the
output and from products of first derivatives.

Arrays of directions are laid out ``(k, n, units)``: k directions, n rows.
"""

import numpy as np
from scipy.special import expit, logsumexp, softmax, xlogy
from sklearn.utils.extmath import safe_sparse_dot

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "OUTPUT_ACTIVATIONS",
    "Primal",
    "hessian_products",
    "output_loss",
    "primal",
]

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
OUTPUT_ACTIVATIONS = ("softmax", "logistic", "identity", "exp")


def _activate(name, z):
    if name == "identity":
        return z
    if name == "logistic":
        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(f"Unknown activation {name!r}; scikit-learn offers {HIDDEN_ACTIVATIONS}.")


def _derivatives(name, a):
    """(f', f'') of the hidden activation, from its values ``a = f(z)`` (as scikit-learn)."""
    if name == "identity":
        return np.ones_like(a), np.zeros_like(a)
    if name == "logistic":
        d1 = a * (1.0 - a)
        return d1, d1 * (1.0 - 2.0 * a)
    if name == "tanh":
        d1 = 1.0 - a * a
        return d1, -2.0 * a * d1
    # relu: f' = 1 where z > 0 (scikit-learn's derivative, 0 at z = 0), f'' = 0 a.e.
    return (a > 0).astype(np.float64), np.zeros_like(a)


def output_probabilities(kind, z):
    """``out(z)``: the network's output (probabilities, or the prediction of a regressor)."""
    if kind == "softmax":
        return softmax(z, axis=1)
    if kind == "logistic":
        return expit(z)
    if kind == "exp":
        return np.exp(z)
    return z


def output_loss(kind, z, t):
    """Per-row loss from the last pre-activation ``z`` (n, K) and the targets ``t`` (n, K).

    softmax: ``logsumexp(z) − tᵀz``; logistic: ``Σ_k log(1 + e^{z_k}) − t_k z_k``; identity:
    ``½‖z − t‖²``; exp: ``Σ_k e^{z_k} − t_k z_k − t_k + t_k log t_k`` (half the Poisson deviance).
    Computed from z, without the probability clipping of scikit-learn's reported ``loss_``.
    """
    if kind == "softmax":
        return logsumexp(z, axis=1) - np.sum(t * z, axis=1)
    if kind == "logistic":
        return np.sum(np.logaddexp(0.0, z) - t * z, axis=1)
    if kind == "exp":
        return np.sum(np.exp(z) - t * z - t + xlogy(t, t), axis=1)
    return 0.5 * np.sum((z - t) ** 2, axis=1)


def _output_curvature_times(kind, p, Rz):
    """``(∂²ℓ/∂z²) Rz`` row by row; p = out(z) of shape (n, K), Rz of shape (k, n, K)."""
    if kind == "softmax":
        pRz = p * Rz
        return pRz - p * pRz.sum(axis=-1, keepdims=True)
    if kind == "logistic":
        return (p * (1.0 - p)) * Rz
    if kind == "exp":
        return p * Rz
    return Rz.copy()


class Primal:
    """The forward and backward pass of a block of rows, kept for Hessian-vector products.

    Attributes
    ----------
    inputs : list of arrays
        ``a_l``, the input of layer l (``a_0`` is the block of X, dense or CSR).
    output : ndarray of shape (n, K)
        ``out(z)``.
    deltas : list of ndarray
        ``δ_l = ∂ℓ/∂z_l`` (unweighted), one per layer.
    d1, d2 : list of ndarray or None
        f' and f'' of the hidden activation at ``a_l`` (None for l = 0).
    """

    def __init__(self, inputs, output, deltas, d1, d2):
        self.inputs, self.output, self.deltas, self.d1, self.d2 = inputs, output, deltas, d1, d2


def forward(coefs, intercepts, activation, X):
    """The inputs of every layer and the last pre-activation z."""
    inputs = [X]
    z = None
    for layer, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        z = np.asarray(safe_sparse_dot(inputs[-1], W)) + b
        if layer < len(coefs) - 1:
            inputs.append(_activate(activation, z))
    return inputs, z


def primal(coefs, intercepts, activation, kind, X, t, *, curvature=True):
    """Forward and backward pass of rows X with targets t (n, K): a :class:`Primal`.

    ``curvature=False`` skips f'' (what gradients alone need).
    """
    inputs, z = forward(coefs, intercepts, activation, X)
    output = output_probabilities(kind, z)
    deltas = [None] * len(coefs)
    deltas[-1] = output - t
    d1 = [None] * len(coefs)
    d2 = [None] * len(coefs)
    for layer in range(len(coefs) - 1, 0, -1):
        d1[layer], second = _derivatives(activation, inputs[layer])
        d2[layer] = second if curvature else None
        deltas[layer - 1] = (deltas[layer] @ coefs[layer].T) * d1[layer]
    return Primal(inputs, output, deltas, d1, d2)


def _times_directions(a, M):
    """``a @ M[j]`` for every direction j: a (n, i), M (k, i, o) -> (k, n, o), one GEMM."""
    k, i, o = M.shape
    out = np.asarray(safe_sparse_dot(a, M.transpose(1, 0, 2).reshape(i, k * o)))
    return out.reshape(-1, k, o).transpose(1, 0, 2)


def _transpose_times_directions(a, N):
    """``a.T @ N[j]`` for every direction j: a (n, i), N (k, n, o) -> (k, i, o), one GEMM."""
    k, n, o = N.shape
    out = np.asarray(safe_sparse_dot(a.T, N.transpose(1, 0, 2).reshape(n, k * o)))
    return out.reshape(-1, k, o).transpose(1, 0, 2)


def hessian_products(coefs, kind, state, w, dW, db):
    """``Σ_i w_i ∇²ℓ_i`` along k directions (the data term; no penalty), exactly.

    Parameters
    ----------
    coefs : list of ndarray
        The layers' weights ``W_l`` (i_l, o_l).
    kind : str
        The output activation.
    state : Primal
        The rows' forward and backward pass.
    w : ndarray of shape (n,)
        Row weights.
    dW : list of ndarray
        The directions' weight parts, ``dW[l]`` of shape (k, i_l, o_l).
    db : list of ndarray
        The directions' intercept parts, ``db[l]`` of shape (k, o_l).

    Returns
    -------
    HW, Hb : lists of ndarray
        The products in the same layout as ``dW`` and ``db``. O(n k Σ_l i_l o_l) time,
        O(n k Σ_l o_l) memory.
    """
    n_layers = len(coefs)
    Rz = [None] * n_layers
    Ra = [None] * n_layers  # R{a_l}; a_0 = x does not depend on θ
    for layer in range(n_layers):
        Rz[layer] = _times_directions(state.inputs[layer], dW[layer]) + db[layer][:, None, :]
        if layer > 0:
            Rz[layer] += Ra[layer] @ coefs[layer]
        if layer + 1 < n_layers:
            Ra[layer + 1] = state.d1[layer + 1] * Rz[layer]
    Rdelta = _output_curvature_times(kind, state.output, Rz[-1])
    HW, Hb = [None] * n_layers, [None] * n_layers
    for layer in range(n_layers - 1, -1, -1):
        weighted = w[None, :, None] * Rdelta
        HW[layer] = _transpose_times_directions(state.inputs[layer], weighted)
        if layer > 0:
            HW[layer] += Ra[layer].transpose(0, 2, 1) @ (w[:, None] * state.deltas[layer])
        Hb[layer] = weighted.sum(axis=1)
        if layer > 0:
            W = coefs[layer]
            g = state.deltas[layer] @ W.T  # ∂ℓ/∂a_l
            Rg = Rdelta @ W.T + state.deltas[layer] @ dW[layer].transpose(0, 2, 1)
            Rdelta = Rg * state.d1[layer] + (g * state.d2[layer]) * Rz[layer - 1]
    return HW, Hb
