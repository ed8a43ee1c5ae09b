"""The optional torch import, with an error that names the extra to install."""


def import_torch(caller="Torch models"):
    """``torch`` (with ``torch.func`` loaded), or an ImportError naming the extra to install.

    Parameters
    ----------
    caller : str, default="Torch models"
        What needs torch, for the message (e.g. ``"TurnOverDropoutScorer"``).
    """
    try:
        import torch
        import torch.func
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs torch and skorch: pip install skinfluence[torch]"
        ) from exc
    return torch


def import_skorch(caller="Torch models"):
    """``skorch``, or an ImportError naming the extra to install (as :func:`import_torch`)."""
    import_torch(caller)
    try:
        import skorch
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs torch and skorch: pip install skinfluence[torch]"
        ) from exc
    return skorch
