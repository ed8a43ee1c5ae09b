"""The audit: rank, count and flag the suspect rows of a labelled table.

:func:`audit` (public as ``skinfluence.audit``) computes; :func:`run_audit` is the command
line's job (read the file, call it, print); argument parsing lives in :mod:`skinfluence.cli`.
"""

from ._api import audit
from ._checks import DataCheck
from ._errors import (
    EXIT_CODES_HELP,
    EXIT_DATA,
    EXIT_DEPENDENCY,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    AuditDataError,
    AuditDependencyError,
    AuditError,
    AuditUsageError,
)
from ._result import AuditResult
from ._run import run_audit
from ._scores import AUTO_SCORES, DEFAULT_SCORES, MODELS, SCORES

__all__ = [
    "AUTO_SCORES",
    "DEFAULT_SCORES",
    "EXIT_CODES_HELP",
    "EXIT_DATA",
    "EXIT_DEPENDENCY",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "MODELS",
    "SCORES",
    "AuditDataError",
    "AuditDependencyError",
    "AuditError",
    "AuditResult",
    "AuditUsageError",
    "DataCheck",
    "audit",
    "run_audit",
]
