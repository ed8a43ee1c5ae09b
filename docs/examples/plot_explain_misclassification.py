"""
===================================
Explain a misclassification
===================================

Which training rows pushed the model towards a wrong prediction? We fit a logistic
regression on handwritten 1s and 8s, pick a test image it gets wrong, and show the training
images with the largest influence on it: the most *helpful* ones (removing them would raise
the test row's loss) and the most *harmful* ones (removing them would lower it). Influence is
in leave-one-out units: the change of the test row's log-loss if one training row were
removed, computed exactly for logistic regression by :class:`skinfluence.InfluenceScorer`.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skinfluence import InfluenceScorer
from skinfluence.plotting import InfluenceDisplay

X, y = load_digits(return_X_y=True)
keep = (y == 1) | (y == 8)
X, y = X[keep] / 16.0, y[keep]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

scorer = InfluenceScorer(LogisticRegression(C=1.0)).fit(X_train, y_train)
predicted = scorer.estimator_.predict(X_test)
wrong = np.flatnonzero(predicted != y_test)
print(f"{len(wrong)} of {len(y_test)} test images misclassified")

# %%
# The test image with the highest loss, beside its most helpful and harmful training images.
# Harmful rows of a misclassified test row typically look like it but carry the other label.
losses = scorer.score_samples(X_test, y_test)
t = wrong[np.argmax(losses[wrong])] if len(wrong) else int(np.argmax(losses))
display = InfluenceDisplay.from_estimator(
    scorer, X_test[t], y_test[t], X_train, y_train, k=3, image_shape=(8, 8)
)
display.ax_.set_title(f"test image predicted as {predicted[t]}, labelled {y_test[t]}", pad=35)
plt.show()

# %%
# The same for tabular data: breast-cancer, where rows are drawn as a bar chart annotated
# with the features on which each training row differs most from the test row.
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

data = load_breast_cancer(as_frame=True)
Xb_train, Xb_test, yb_train, yb_test = train_test_split(
    data.data, data.target, test_size=0.3, random_state=0
)
tab = InfluenceScorer(make_pipeline(StandardScaler(), LogisticRegression()))
tab.fit(Xb_train, yb_train)
wrong_b = np.flatnonzero(tab.estimator_.predict(Xb_test) != yb_test.to_numpy())
tb = int(wrong_b[0]) if len(wrong_b) else 0
InfluenceDisplay.from_estimator(
    tab, Xb_test.iloc[tb].to_numpy(), yb_test.iloc[tb], Xb_train, yb_train, k=4
)
plt.show()
