"""The HTML report looked at as a person would: rendered by headless Chromium (slow).

Debian's ``chromium`` package; without it the test is skipped, saying so.
"""

import re
import shutil
import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from skinfluence import audit
from skinfluence.datasets import flip_labels

pytest.importorskip("matplotlib")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)"
    ),
]
#: What Chromium's console logging prints for an error on the page.
PAGE_ERROR = re.compile(r"CONSOLE.*(Uncaught|Error|error)|Failed to load resource")


def _render(page, screenshot):
    """Chromium's screenshot of ``page`` and the page's console errors."""
    run = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={screenshot}",
            "--window-size=1400,2400",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    errors = [line for line in run.stderr.splitlines() if PAGE_ERROR.search(line)]
    return errors


def _pixels(path):
    import matplotlib.pyplot as plt

    return plt.imread(path)[..., :3]


def test_the_error_detector_sees_a_broken_page(tmp_path):
    """The check can fail: a page with a script error is reported."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><p>x</p><script>notAFunction();</script></body></html>")
    assert _render(page, tmp_path / "broken.png")


def test_html_report_renders_with_plots_and_no_page_errors(tmp_path):
    data = load_breast_cancer()
    y, flipped = flip_labels(data.target, 0.1, random_state=0)
    page = audit(data.data, y, known_issues=flipped).to_html(tmp_path / "report.html")
    shot = tmp_path / "report.png"
    errors = _render(page, shot)
    assert errors == []
    pixels = _pixels(shot)
    # Not blank: a white page has one colour; the report has text, tables and the plots'
    # coloured bars and curves (blue, orange, green, red: saturated pixels).
    assert pixels.std() > 0.05
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert np.mean(saturation > 0.3) > 0.01
