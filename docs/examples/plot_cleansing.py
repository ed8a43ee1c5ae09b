"""
=========================================
Data cleansing against a validation set
=========================================

Some training rows make the model worse on new data: mislabelled rows, outliers, rows from
another distribution. With a validation set, influence functions name them directly: the
influence of training row i on the *total* validation loss,
``InfluenceScorer.influence(X_val, y_val, aggregate="sum")``, costs one inverse-Hessian solve
for the whole set. Rows with the most negative influence harm the validation set (removing
them would lower its loss). We remove the k% most harmful rows, refit, and measure accuracy
on a separate test set that took no part in the choice, beside removing random rows.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skinfluence import InfluenceScorer
from skinfluence.datasets import flip_labels

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.5, random_state=0)
X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0)
y_noisy, flipped = flip_labels(y_train, 0.2, random_state=0)  # 20% of labels wrong

model = LogisticRegression(C=0.5, max_iter=2000)
scorer = InfluenceScorer(model).fit(X_train, y_noisy)
harm = scorer.influence(X_val, y_val, aggregate="sum")  # (n_train,), negative = harmful
order = np.argsort(harm)  # most harmful first

rng = np.random.RandomState(0)
percents = [0, 2, 5, 10, 15, 20]
acc_influence, acc_random, found = [], [], []
for k in percents:
    n_drop = round(k / 100 * len(y_noisy))
    for chosen, accs in (
        (order[:n_drop], acc_influence),
        (rng.permutation(len(y_noisy))[:n_drop], acc_random),
    ):
        keep = np.setdiff1d(np.arange(len(y_noisy)), chosen)
        accs.append(model.fit(X_train[keep], y_noisy[keep]).score(X_test, y_test))
    found.append(flipped[order[:n_drop]].mean() if n_drop else np.nan)

for k, a, r, f in zip(percents, acc_influence, acc_random, found, strict=True):
    print(
        f"remove {k:2d}%: test accuracy {a:.3f} (random removal {r:.3f}); "
        f"flipped among removed: {f:.2f}"
    )

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(percents, acc_influence, "o-", label="remove most harmful (validation influence)")
ax.plot(percents, acc_random, "s--", label="remove random rows")
ax.set(
    xlabel="training rows removed (%)",
    ylabel="test accuracy",
    title="digits, 20% of training labels flipped",
)
ax.legend()
plt.show()
