"""Everything torch in skinfluence (optional extra: ``pip install skinfluence[torch]``).

Importing this package imports no torch: its public names are loaded on first access, and
those that need torch import it then (an ImportError naming the extra when it is missing).
Modules:

- ``_adapter``: :class:`~skinfluence.models.TorchAdapter`, the model adapter of skorch nets
  and bare modules (per-sample gradients with ``torch.func``), registered in
  :mod:`skinfluence.models`, which re-exports it;
- ``_hvp``: its Hessian-vector products (batched double backward, cached traces);
- ``_wrappers``: :class:`~skinfluence.models.TorchModule` and
  :class:`~skinfluence.models.ParameterSubset`, the estimator wrappers (re-exported by
  :mod:`skinfluence.models`);
- ``_turnover``: the turn-over dropout module behind
  :class:`~skinfluence.TurnOverDropoutScorer` (imports torch);
- ``_mlp``: the ``skinfluence audit --model mlp`` network (imports torch and skorch);
- ``_imports``: the optional import of torch and skorch.
"""

import importlib

_PUBLIC = {
    "TurnOverDropout": "._turnover",
    "dropout_mlp": "._turnover",
    "turnover_uniforms": "._turnover",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(_PUBLIC[name], __name__)
    except ImportError as exc:
        if exc.name not in ("torch", "skorch"):
            raise
        raise ImportError(
            f"skinfluence.torch.{name} needs torch: pip install skinfluence[torch]"
        ) from exc
    return getattr(module, name)


def __dir__():
    return sorted([*globals(), *_PUBLIC])
