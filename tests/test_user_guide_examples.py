"""The ``>>>`` examples of docs/user_guide.rst run (and give what they say)."""

import doctest
from pathlib import Path

USER_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user_guide.rst"


def test_user_guide_examples_run():
    result = doctest.testfile(
        str(USER_GUIDE),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0
