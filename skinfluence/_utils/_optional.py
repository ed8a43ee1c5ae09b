"""Optional dependencies, imported when first needed, with the extra that installs them."""

import importlib


def import_optional(module, *, extra, caller, error=ImportError):
    """Import ``module`` or raise an ImportError that names ``caller`` and the extra to install.

    ``error`` is the exception class raised (an ImportError subclass, e.g. the audit's).

    Examples
    --------
    >>> import_optional("numpy", extra="test", caller="this example").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise error(
            f"{caller} needs {module.split('.')[0]}: pip install skinfluence[{extra}]"
        ) from exc
