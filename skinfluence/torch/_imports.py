"""The optional torch import, with an error that names the extra to install."""

from .._utils._optional import import_optional


def import_torch(caller="Torch models"):
    """``torch`` (with ``torch.func`` loaded), or an ImportError naming the extra to install.

    Parameters
    ----------
    caller : str, default="Torch models"
        What needs torch, for the message (e.g. ``"TurnOverDropoutScorer"``).

    Returns
    -------
    torch : module
        The ``torch`` package.
    """
    import_optional("torch.func", extra="torch", caller=caller)
    return import_optional("torch", extra="torch", caller=caller)


def import_skorch(caller="Torch models"):
    """``skorch``, or an ImportError naming the extra to install (as :func:`import_torch`).

    Parameters
    ----------
    caller : str, default="Torch models"
        What needs skorch, for the message.

    Returns
    -------
    skorch : module
        The ``skorch`` package.
    """
    import_torch(caller)
    return import_optional("skorch", extra="torch", caller=caller)
