"""
=========================================
Data cleansing with CleansingSelector
=========================================

Some training rows make the model worse on new data: mislabelled rows, outliers, rows from
another distribution. :class:`~skinfluence.CleansingSelector` removes the k% most harmful
rows and refits. Harm is measured in one of two ways:

- by a **self-score** (the default): the audit's combined score of the model's own
  out-of-fold loss and a random forest's out-of-bag loss on each row, which needs no
  validation set;
- by **validation influence**: the influence of each row on the total loss of a validation
  set, ``InfluenceScorer.influence(X_val, y_val, aggregate="sum")`` (one inverse-Hessian
  solve), with the validation rows passed to ``fit`` or split off the training rows.

With 20 % of the digits' training labels flipped, we compare both with removing random rows
(the baseline any method must beat), on a test set that took no part in the choice. A
validation set split off the noisy training rows is as noisy as they are: its influence
protects flipped rows that "explain" flipped validation rows, and cleansing by it helps far
less than the self-score or a clean validation set.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skinfluence import CleansingSelector, InfluenceScorer
from skinfluence.datasets import flip_labels

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.5, random_state=0)
X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0)
y_noisy, flipped = flip_labels(y_train, 0.2, random_state=0)  # 20% of labels wrong

model = LogisticRegression(C=0.5, max_iter=2000)
methods = {
    "combined self-score (default)": (CleansingSelector(model, random_state=0), {}),
    "validation influence, clean X_val": (
        CleansingSelector(model, scorer=InfluenceScorer(model)),
        {"X_val": X_val, "y_val": y_val},
    ),
    "validation influence, noisy split": (
        CleansingSelector(model, scorer=InfluenceScorer(model), random_state=0),
        {},
    ),
}
percents = [0, 5, 10, 20]
rng = np.random.RandomState(0)
accuracy = {name: [] for name in [*methods, "random rows"]}
for k in percents:
    for name, (selector, fit_params) in methods.items():
        selector.set_params(fraction=k / 100).fit(X_train, y_noisy, **fit_params)
        accuracy[name].append(selector.score(X_test, y_test))
        found = flipped[selector.removed_].mean() if k else np.nan
        print(f"remove {k:2d}% by {name}: accuracy {accuracy[name][-1]:.3f}, flipped {found:.2f}")
    keep = rng.permutation(len(y_noisy))[round(k / 100 * len(y_noisy)) :]
    accuracy["random rows"].append(model.fit(X_train[keep], y_noisy[keep]).score(X_test, y_test))

fig, ax = plt.subplots(figsize=(6, 4))
for (name, values), marker in zip(accuracy.items(), "osd^", strict=True):
    ax.plot(percents, values, marker=marker, linestyle="-", label=name)
ax.set(
    xlabel="training rows removed (%)",
    ylabel="test accuracy",
    title="digits, 20% of training labels flipped",
)
ax.legend()
plt.show()
