"""torch helpers (optional extra: ``pip install skinfluence[torch]``).

``import skinfluence`` never imports this subpackage; importing it imports torch.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "skinfluence.torch needs torch and skorch: pip install skinfluence[torch]"
    ) from exc

from ._turnover import TurnOverDropout, dropout_mlp, turnover_uniforms

__all__ = ["TurnOverDropout", "dropout_mlp", "turnover_uniforms"]
