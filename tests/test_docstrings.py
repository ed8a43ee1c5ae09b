"""numpydoc validation of every public object, and the User Guide link of every estimator.

Public objects: everything in ``skinfluence.__all__`` and in the ``__all__`` of the public
subpackages (the public functions of ``skinfluence.metrics``, which has none; the names of
``skinfluence.torch`` where torch is installed), and the public methods and properties those
classes define (not the ones scikit-learn or torch define for them).

Checked numpydoc codes:

- every object: GL08 (a docstring), SS01-SS06 (a one-line summary, capitalised, ending in a
  period, no leading whitespace, an infinitive verb, on one line), PR01/PR02 (every
  parameter documented, no parameter documented that does not exist);
- functions and methods: RT01 (a Returns section; properties are exempt, numpydoc skips them);
- classes and module-level functions: SA01 (See Also) and EX01 (Examples); warning classes
  are exempt from EX01 (nothing to run: their docstring says when they are raised).

Left out as noise: GL01/GL02 (where the docstring's text starts and ends: a formatting
choice), GL03 (double blank lines), ES01 (an extended summary: many one-screen docstrings
need none), PR06/PR08/PR09 (the exact spelling and capitalisation of parameter types and
descriptions, e.g. "int" vs "integer"), RT02/RT03 (a name and a description for each
return value: a typed one-liner is the house style), SA04 (a description for each See Also
entry), YD01 (no generator is public), EX01 on methods (the class example shows them).
"""

import importlib
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

import skinfluence  # noqa: E402

PUBLIC_MODULES = [
    "skinfluence",
    "skinfluence.models",
    "skinfluence.inverse",
    "skinfluence.selection",
    "skinfluence.toy",
    "skinfluence.datasets",
    "skinfluence.metrics",
    "skinfluence.plotting",
    "skinfluence.exceptions",
    "skinfluence.scorers",
    "skinfluence.trees",
    "skinfluence.torch",  # its names import torch: walked only where torch is installed
]
OPTIONAL_MODULES = {"skinfluence.torch": "torch"}
EVERY_OBJECT = {"GL08", "SS01", "SS02", "SS03", "SS04", "SS05", "SS06", "PR01", "PR02"}
CALLABLES = {"RT01"}
TOP_LEVEL = {"SA01", "EX01"}


def _public_names(module):
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return sorted(
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    )


def _public_objects():
    """(import path, object, kind) for each public object, each once (by its definition)."""
    found, seen = [], set()
    for module_name in PUBLIC_MODULES:
        needs = OPTIONAL_MODULES.get(module_name)
        if needs and importlib.util.find_spec(needs) is None:
            continue
        module = importlib.import_module(module_name)
        for name in _public_names(module):
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            key = (obj.__module__, obj.__qualname__)
            if key in seen:
                continue
            seen.add(key)
            path = f"{module_name}.{name}"
            found.append((path, obj, "class" if inspect.isclass(obj) else "function"))
            if inspect.isclass(obj):
                found.extend(_public_members(path, obj, seen))
    return found


def _public_members(path, cls, seen):
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        static = inspect.getattr_static(cls, name)
        is_property = isinstance(static, property)
        func = static.fget if is_property else getattr(static, "__func__", static)
        if not (is_property or inspect.isfunction(func)):
            continue
        if not getattr(func, "__module__", "").startswith("skinfluence"):
            continue  # scikit-learn's own methods (get_params, ...) are its business
        key = (func.__module__, func.__qualname__)
        if key in seen:
            continue
        seen.add(key)
        yield f"{path}.{name}", func, "property" if is_property else "method"


def _params():
    for path, obj, kind in _public_objects():
        yield pytest.param(path, obj, kind, id=path)


def _checked_codes(obj, kind):
    codes = set(EVERY_OBJECT)
    if kind in ("function", "method"):
        codes |= CALLABLES
    if kind in ("class", "function"):
        codes |= TOP_LEVEL
    if kind == "class" and issubclass(obj, Warning):
        codes.discard("EX01")
    return codes


@pytest.mark.parametrize(("path", "obj", "kind"), list(_params()))
def test_docstring_is_valid(path, obj, kind):
    codes = _checked_codes(obj, kind)
    errors = numpydoc_validate.validate(path)["errors"]
    failed = [f"{code}: {message}" for code, message in errors if code in codes]
    assert not failed, f"{path}:\n  " + "\n  ".join(failed)


DOCS = Path(__file__).resolve().parents[1] / "docs"


def _doc_labels():
    return set(re.findall(r"^\.\. _([\w-]+):\s*$", _all_rst(), flags=re.MULTILINE))


def _all_rst():
    return "\n".join(path.read_text() for path in sorted(DOCS.glob("*.rst")))


def _estimators():
    from sklearn.base import BaseEstimator

    for path, obj, kind in _public_objects():
        if kind != "class":
            continue
        if issubclass(obj, BaseEstimator) or obj.__name__.endswith("Display"):
            yield pytest.param(path, obj, id=path)


@pytest.mark.parametrize(("path", "obj"), list(_estimators()))
def test_estimator_links_to_the_user_guide_and_has_see_also(path, obj):
    doc = inspect.getdoc(obj) or ""
    links = re.findall(r"Read more in the :ref:`User Guide <([\w-]+)>`", doc)
    assert links, f'{path}: add "Read more in the :ref:`User Guide <label>`."'
    missing = set(links) - _doc_labels()
    assert not missing, f"{path}: no `.. _{sorted(missing)[0]}:` label in docs/*.rst"
    see_also = numpydoc_validate.Validator(numpydoc_validate.get_doc_object(obj)).see_also
    assert see_also, f"{path}: See Also is empty"


def test_the_public_objects_are_found():
    paths = {path for path, _, _ in _public_objects()}
    assert {"skinfluence.PruningSelector", "skinfluence.metrics.agreement"} <= paths
    assert "skinfluence.inverse.DirectSolver.solve" in paths
    assert not any(path.endswith(".get_params") for path in paths)
    assert skinfluence.__all__  # the top level is walked too
