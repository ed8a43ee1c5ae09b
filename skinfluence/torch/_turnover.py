"""Turn-over dropout (Kobayashi et al. 2020): one sub-network per training row, no stored masks."""

import torch
from torch import nn

_DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_MASK32 = 0xFFFFFFFF
_MIX = 0x45D9F3B  # < 2**27: a 32-bit value times it stays below 2**59, exact in int64
_GOLDEN = 0x9E3779B9


def _mix32(x):
    """An invertible 32-bit integer hash, applied elementwise to an int64 tensor in [0, 2**32)."""
    x = (((x >> 16) ^ x) * _MIX) & _MASK32
    x = (((x >> 16) ^ x) * _MIX) & _MASK32
    return (x >> 16) ^ x


def turnover_uniforms(index, n_units, *, seed, layer):
    """Draw the uniform numbers behind the rows' masks, a fixed function of their inputs.

    Each number is a hash of (seed, layer, row index, unit), so the same row always gets the
    same mask and nothing is stored: ``_TurnOverMask`` keeps a unit where the number is at
    least ``p``.

    Parameters
    ----------
    index : array-like or torch.Tensor of int, shape (n,)
        The rows' training indices.
    n_units : int
        Units of the dropout layer (channels for ``Dropout1d/2d/3d``).
    seed : int
        Seeds the masks (``TurnOverDropout(seed=...)``).
    layer : int
        Position of the dropout layer in the module (each layer has its own masks).

    Returns
    -------
    uniforms : torch.Tensor of float64, shape (n, n_units)
        In [0, 1).

    See Also
    --------
    TurnOverDropout : the wrapper whose dropout layers use these numbers.

    Examples
    --------
    >>> import torch
    >>> from skinfluence.torch import turnover_uniforms
    >>> u = turnover_uniforms(torch.arange(3), 5, seed=0, layer=0)
    >>> u.shape, bool(torch.equal(u[1], turnover_uniforms([1], 5, seed=0, layer=0)[0]))
    (torch.Size([3, 5]), True)
    """
    index = torch.as_tensor(index, dtype=torch.int64)
    key = _mix32((_mix32(torch.tensor(seed & _MASK32)) + layer * _GOLDEN) & _MASK32)
    row = _mix32((_mix32(index & _MASK32) ^ key) & _MASK32)
    units = _mix32(
        (torch.arange(n_units, dtype=torch.int64, device=index.device) * _GOLDEN) & _MASK32
    )
    h = _mix32((row[:, None] + units[None, :]) & _MASK32)
    return h.to(torch.float64) / 2.0**32


def dropout_mlp(n_features, n_classes, *, hidden=(64,), p=0.5):
    """A multilayer perceptron with dropout after each hidden ReLU, returning logits.

    A ready ``module`` for the skorch net of :class:`skinfluence.TurnOverDropoutScorer`,
    which skorch calls with the ``module__`` parameters:
    ``NeuralNetClassifier(dropout_mlp, module__n_features=64, module__n_classes=10,
    module__hidden=(256,), criterion=nn.CrossEntropyLoss)``. The dropout layers mark where
    turn-over dropout splits sub-networks.

    Parameters
    ----------
    n_features : int
        Input width.
    n_classes : int
        Number of logits returned.
    hidden : tuple of int, default=(64,)
        Width of each hidden layer.
    p : float, default=0.5
        Dropout rate (replaced by ``TurnOverDropout``'s own ``p`` once wrapped).

    Returns
    -------
    module : torch.nn.Sequential
        ``Linear → ReLU → Dropout`` per hidden layer, then a ``Linear`` to the logits.

    See Also
    --------
    TurnOverDropout : wraps it so that each training row trains its own sub-network.
    skinfluence.TurnOverDropoutScorer : the scorer that trains it through skorch.

    Examples
    --------
    >>> from skinfluence.torch import dropout_mlp
    >>> dropout_mlp(4, 3, hidden=(8,))
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): ReLU()
      (2): Dropout(p=0.5, inplace=False)
      (3): Linear(in_features=8, out_features=3, bias=True)
    )
    """
    layers, width = [], n_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(p)]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, n_classes))


class _TurnOverMask(nn.Module):
    """Replaces one dropout layer: multiplies by the row's mask (or its complement)."""

    def __init__(self, owner_state, layer, channelwise):
        super().__init__()
        self._state = owner_state  # dict shared with the TurnOverDropout wrapper
        self.layer = layer
        self.channelwise = channelwise

    def forward(self, x):
        index, flip, p, seed = (self._state[k] for k in ("index", "flip", "p", "seed"))
        if index is None:
            return x  # no row identity: the full network (ordinary dropout at inference)
        shape = x.shape[1:2] if self.channelwise else x.shape[1:]
        n_units = int(torch.tensor(shape).prod()) if len(shape) else 1
        u = turnover_uniforms(index.to(x.device), n_units, seed=seed, layer=self.layer)
        # The row's own sub-network keeps units with u >= p (a fraction 1 − p); the flipped
        # one is its complement. Inverted-dropout scaling keeps expected activations equal.
        keep = (u < p) if flip else (u >= p)
        scale = 1.0 / p if flip else 1.0 / (1.0 - p)
        mask = keep.to(x.dtype) * scale
        if self.channelwise:
            mask = mask.reshape(mask.shape[0], mask.shape[1], *([1] * (x.dim() - 2)))
        else:
            mask = mask.reshape(x.shape)
        return x * mask


class TurnOverDropout(nn.Module):
    """Wrap a module so that each training row trains only its own sub-network.

    Every dropout layer of ``module`` (``nn.Dropout``, ``nn.Dropout1d/2d/3d``) becomes an
    *instance-specific* mask: row i is always multiplied by the same mask ``m_i``, a fixed
    function of ``(seed, layer, i)`` recomputed by hashing (no masks stored), so during
    training row i only ever updates the sub-network ``m_i``. At scoring time
    ``flip=True`` applies the complementary mask ``1 − m_i``: a sub-network that never saw
    row i (Kobayashi et al. 2020). Without ``index`` (plain prediction) no mask is
    applied: the full network, as ordinary dropout does at inference.

    Parameters
    ----------
    module : torch.nn.Module
        The network; its dropout layers mark where sub-networks split (their own rate is
        replaced by ``p``). Modified in place (its dropout layers are swapped).
    p : float in (0, 1), default=0.5
        Fraction of units a row's sub-network drops; the flipped sub-network keeps exactly
        those.
    seed : int, default=0
        Seeds the masks.

    See Also
    --------
    skinfluence.TurnOverDropoutScorer : trains a skorch net through this wrapper and scores
        rows by the difference of their two sub-networks' losses.
    dropout_mlp : a ready module with dropout layers.

    Notes
    -----
    Rows reach the module with their indices as a keyword: ``forward(X, index)``. Through
    skorch, pass ``X`` as a dict, ``net.fit({"X": X, "index": np.arange(len(X))}, y)``:
    skorch slices every entry of the dict per batch and calls ``module(**batch)``. In
    training mode an index is required (a batch without one would train the full network
    on rows that should each reach only their own sub-network).

    Cost: one integer hash per (row, unit) per dropout layer and forward pass, O(B · units),
    the same order as the layer itself; no memory beyond the batch's mask.

    References
    ----------
    Kobayashi, S., Yokoi, S., Suzuki, J. & Inui, K. (2020). Efficient estimation of
    influence of a training instance. SustaiNLP workshop (EMNLP).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skinfluence.torch import TurnOverDropout
    >>> net = TurnOverDropout(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(),
    ...                                     nn.Linear(8, 2)), seed=0)
    >>> x = torch.ones(3, 4)
    >>> own, flipped = net(x, index=torch.arange(3)), net(x, index=torch.arange(3), flip=True)
    >>> own.shape, bool(torch.allclose(own, net(x, index=torch.arange(3))))
    (torch.Size([3, 2]), True)
    """

    def __init__(self, module, *, p=0.5, seed=0):
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
        if not 0 < p < 1:
            raise ValueError(f"p must be in (0, 1) (fraction of units dropped); got {p!r}.")
        self.module = module
        self.p = float(p)
        self.seed = int(seed)
        self._state = {"index": None, "flip": False, "p": self.p, "seed": self.seed}
        self.n_masks = self._replace_dropout(module, [0])
        if self.n_masks == 0:
            raise ValueError(
                f"{type(module).__name__} has no dropout layer to turn over. Add "
                "torch.nn.Dropout (or Dropout1d/2d/3d for channels) where the sub-networks "
                "should split, e.g. after each hidden activation: turn-over dropout needs "
                "them to give each training row its own sub-network."
            )

    def _replace_dropout(self, parent, counter):
        for name, child in parent.named_children():
            if isinstance(child, _DROPOUT_TYPES):
                channelwise = type(child) is not nn.Dropout
                setattr(parent, name, _TurnOverMask(self._state, counter[0], channelwise))
                counter[0] += 1
            else:
                self._replace_dropout(child, counter)
        return counter[0]

    def forward(self, X, index=None, flip=False):
        """Run the module on X with each row's own (or, with ``flip``, flipped) mask.

        Parameters
        ----------
        X : torch.Tensor of shape (batch, ...)
            The rows.
        index : torch.Tensor of int, shape (batch,), default=None
            Each row's training index. None: the full network (not allowed in training).
        flip : bool, default=False
            Use the complementary sub-network, which never saw the row.

        Returns
        -------
        outputs : torch.Tensor
            The module's outputs on X under the masks.
        """
        if index is None and self.training:
            raise ValueError(
                "TurnOverDropout needs each row's index during training; with skorch pass "
                "X as {'X': X, 'index': np.arange(len(X))}."
            )
        if index is not None:
            index = torch.as_tensor(index).reshape(-1)
            if index.shape[0] != X.shape[0]:
                raise ValueError(f"index has {index.shape[0]} entries for {X.shape[0]} rows.")
        self._state.update(index=index, flip=bool(flip))
        try:
            return self.module(X)
        finally:
            self._state.update(index=None, flip=False)


def turnover_dropout_module(module, *, turnover_p=0.5, turnover_seed=0, **module_params):
    """Build ``module`` as skorch builds a net's module, and wrap it in :class:`TurnOverDropout`.

    The ``module`` that :class:`skinfluence.TurnOverDropoutScorer` gives its copy of the
    user's skorch net: skorch calls it with the net's ``module__`` parameters, so the user's
    module is built from the user's own settings (and a subclass of the net that sets them
    in ``fit`` keeps working). The scorer's own settings carry a ``turnover_`` prefix so
    that they cannot collide with the module's (a module may well take a ``p``).

    Parameters
    ----------
    module : torch.nn.Module instance, class or callable
        As skorch takes it: an instance is used as it is (re-built from its class when
        ``module_params`` are given, as skorch does); a class or callable is called with
        ``module_params``.
    turnover_p : float in (0, 1), default=0.5
        :class:`TurnOverDropout`'s ``p``.
    turnover_seed : int, default=0
        :class:`TurnOverDropout`'s ``seed``.
    **module_params
        The net's ``module__`` parameters.

    Returns
    -------
    TurnOverDropout
    """
    if isinstance(module, nn.Module):
        built = type(module)(**module_params) if module_params else module
    elif callable(module):
        built = module(**module_params)
    else:
        raise TypeError(
            "The net's module must be a torch.nn.Module instance or class (or a callable "
            f"returning one), as skorch takes it; got {module!r}."
        )
    return TurnOverDropout(built, p=turnover_p, seed=turnover_seed)
