"""
==================================
Audit a CSV file from Python
==================================

``skinfluence.audit`` is the engine of the ``skinfluence audit`` command. Here we write a
small CSV as a user would have it (a text column, a missing value, string labels, a
duplicated row, a label typo that makes a class of one row, and 10% flipped labels), read
it with pandas and audit it: the ranking, the estimated number of label issues with its
interval, the flagged rows with their suggested label and reason, the data checks, and the
HTML report.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_wine

from skinfluence import audit
from skinfluence.datasets import flip_labels

wine = load_wine(as_frame=True)
frame = wine.data.iloc[:, :6].copy()
frame["region"] = np.where(wine.data["alcohol"] > 13, "north", "south")  # a text column
labels, flipped = flip_labels(wine.target.to_numpy(), 0.1, random_state=0)
frame["cultivar"] = np.array(["barolo", "grignolino", "barbera"])[labels]
frame.loc[3, "ash"] = np.nan  # a missing value (imputed)
frame.loc[7, "cultivar"] = "barbara"  # a typo: a class of one row
flipped[7] = True  # a wrong label too
frame = pd.concat([frame, frame.iloc[[10]]], ignore_index=True)  # a duplicated row
flipped = np.append(flipped, flipped[10])

folder = Path(tempfile.mkdtemp())
frame.to_csv(folder / "wine.csv", index=False)

# %%
# Audit it
# --------
# Read the CSV as usual; the target is a column of strings.
table = pd.read_csv(folder / "wine.csv")
result = audit(table.drop(columns="cultivar"), table["cultivar"], known_issues=flipped)
print(result)
print(result.summary())

# %%
# The flagged rows, most suspect first, each with its suggested label and reason: the
# typo's row comes first (its class has no other row), the flips follow.
flagged = result.ranking[result.ranking["flagged"]]
print(flagged[["row", "label", "suggested_label", "combined", "reason"]].head(8).to_string())
print(f"precision of the flagged rows: {result.detection['flag_precision']:.2f}")

# %%
# The report
# ----------
# ``to_html`` writes one self-contained page: the summary, the flagged rows, the data
# checks and its plots, embedded. Open it in a browser; here we show its text and plots.
page = result.to_html(folder / "report.html")
text = page.read_text(encoding="utf-8")
print(f"report: {page} ({len(text) // 1024} KiB, {text.count('<img')} plots embedded)")

# %%
# The report's plots are those a ``.png`` report puts side by side: the distribution of
# the combined score (flagged rows in their own colour), how well each score finds the
# known flipped labels, and which training rows help or harm the most suspect row.
result.to_html(folder / "report.png")
fig, ax = plt.subplots(figsize=(12, 3.5), layout="constrained")
ax.imshow(plt.imread(folder / "report.png"))
ax.set_axis_off()

# %%
# ``plot`` draws the first of them on an axes of your own.
ax = result.plot()
plt.show()
