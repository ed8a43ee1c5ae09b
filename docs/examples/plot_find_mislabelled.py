"""
==========================
Find mislabelled rows
==========================

We flip 10% of the training labels of the breast-cancer data and ask several scores to find
them. Every score ranks rows so that higher = more suspect; the precision–recall curve shows
how many flagged rows are really flipped (precision) against how many flips are found
(recall). The dot marks the point where as many rows are flagged as there are flips.

Self-influence of a logistic regression is a good detector, but not the best one here: its
plain loss, and the memorisation of a forest of randomised trees, do better, and their rank
average is robust across data sets (see the mislabel benchmark). ``skinfluence audit`` runs
a combination of this kind from the command line, over the model families that fit the
labels best (see its page in the user guide).
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skinfluence import InfluenceScorer, MemorizationScorer
from skinfluence.datasets import load_noisy_breast_cancer
from skinfluence.plotting import DetectionCurveDisplay
from skinfluence.scorers import per_sample_loss

data = load_noisy_breast_cancer(noise_rate=0.1, random_state=0)
X, y, flipped = data.X_train, data.y_train, data.is_flipped
print(f"{flipped.sum()} of {len(y)} training labels flipped")

model = make_pipeline(StandardScaler(), LogisticRegression())
influence = InfluenceScorer(model).fit(X, y)
loss = per_sample_loss(influence.estimator_, X, y)
forest = MemorizationScorer(
    DecisionTreeClassifier(max_features="sqrt", random_state=0),
    n_estimators=300,
    subsample=0.632,
    random_state=0,
).fit(X, y)

scores = {
    "self-influence": influence.scores_,
    "in-sample loss": loss,
    "forest memorisation": forest.scores_,
}
scores["rank average"] = np.mean([rankdata(s) for s in scores.values()], axis=0)

fig, ax = plt.subplots(figsize=(6, 5))
for name, s in scores.items():
    DetectionCurveDisplay.from_scores(flipped, s, name=name, ax=ax)
ax.set_title("finding 10% flipped labels (breast-cancer)")
plt.show()

# %%
# The most suspect rows by the rank average, and whether their label was flipped.
order = np.argsort(-scores["rank average"])[:10]
for i in order:
    print(f"row {i:3d}  label {y[i]}  flipped: {bool(flipped[i])}")
