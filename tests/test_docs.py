"""The documentation builds with no warnings, and lists every public estimator."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import skinfluence

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_api_reference_lists_every_public_estimator():
    api = (DOCS / "api.rst").read_text()
    listed = set(re.findall(r"^   (\w+)$", api, flags=re.MULTILINE))
    public = {name for name in skinfluence.__all__ if name[0].isupper()}
    assert public <= listed, f"add to docs/api.rst: {sorted(public - listed)}"


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("numpydoc")
    pytest.importorskip("pydata_sphinx_theme")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-b",
            "html",
            "-q",
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert (tmp_path / "html" / "api.html").exists()
    assert (tmp_path / "html" / "auto_examples" / "index.html").exists()
