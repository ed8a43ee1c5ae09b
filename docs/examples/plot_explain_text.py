"""
=====================================================
Explain a text classifier's mistake by its documents
=====================================================

TF-IDF features with a logistic regression is the most common scikit-learn text pipeline.
``InfluenceScorer`` takes the ``Pipeline`` as it is, on raw text: the vectorizer is a fixed
feature map, the logistic regression's parameters are what removing a training document
changes. Its sparse rows stay sparse throughout: self-influence of every document against
the explicit inverse Hessian touches only each document's own words, O(nnz²) per row.

We generate product reviews (no download): short sentences built from product words, praise
and complaint words, and a few reviews whose star rating was entered wrongly. A test review
is misclassified, and ``explain`` returns the training **documents** that pushed the model
towards the mistake: the wrongly rated reviews that share its words.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skinfluence import InfluenceScorer

rng = np.random.RandomState(0)
products = ["blender", "kettle", "toaster", "headphones", "charger", "backpack", "lamp"]
praise = ["great", "excellent", "sturdy", "quiet", "reliable", "lovely", "perfect"]
complaint = ["broken", "noisy", "flimsy", "useless", "faulty", "disappointing", "cheap"]
openers = ["the", "this", "my", "our new"]
closers = ["after a week", "for the price", "overall", "so far", "as a gift"]


def review(positive, product):
    words = rng.choice(praise if positive else complaint, size=2, replace=False)
    return f"{rng.choice(openers)} {product} is {words[0]} and {words[1]} {rng.choice(closers)}"


n = 600
positive = rng.rand(n) < 0.5
product_of = rng.choice(products, size=n)
docs = [review(p, prod) for p, prod in zip(positive, product_of, strict=True)]
labels = positive.astype(int)
# Wrong star ratings: complaints about the kettle entered as positive reviews
wrong = np.flatnonzero((product_of == "kettle") & ~positive)[:30]
labels[wrong] = 1

model = make_pipeline(TfidfVectorizer(), LogisticRegression(C=5.0))
scorer = InfluenceScorer(model).fit(docs, labels)
print(f"method: {scorer.method_} (exact self-influence: {scorer.scores_exact_})")

# %%
# A mistake
# ---------
# A genuine complaint about a kettle is predicted positive.
test = ["the kettle is noisy and faulty after a week"]
print("predicted:", scorer.estimator_.predict(test)[0], "(true label: 0)")
print(f"P(positive) = {scorer.estimator_.predict_proba(test)[0, 1]:.2f}")

# %%
# The training documents behind it
# --------------------------------
# ``explain`` ranks the training rows by their influence on the test row's loss under its
# true label: the **harmful** ones raised it (removing them would lower it). They are the
# wrongly rated kettle complaints; ``harmful_rows`` are the documents themselves.
result = scorer.explain(test, [0], k=10)
for doc, idx, value in zip(
    result.harmful_rows[0], result.harmful_indices[0], result.harmful_influence[0], strict=True
):
    tag = "WRONG RATING" if idx in wrong else ""
    print(f"{value:+.4f}  label={labels[idx]}  {doc!r} {tag}")
print(f"{np.isin(result.harmful_indices[0], wrong).sum()} of the 10 are wrongly rated")

# %%
# Self-influence finds them without a test row
# --------------------------------------------
# ``scores_`` is every document's self-influence (its own loss increase when it is left
# out): the wrong ratings are concentrated at the top, even though 30 consistent ones
# partly support each other (each is less surprising given the others).
top = np.argsort(-scorer.scores_)[:20]
found = np.isin(top, wrong).sum()
print(f"wrong ratings among the 20 most self-influential: {found} of {len(wrong)}")

fig, ax = plt.subplots(figsize=(7, 3.5))
order = np.argsort(-scorer.scores_)
ax.plot(np.arange(n), scorer.scores_[order], color="0.6", lw=1)
hits = np.flatnonzero(np.isin(order, wrong))
ax.scatter(hits, scorer.scores_[order][hits], color="C3", zorder=3, label="wrong rating")
ax.set(xlabel="training documents, most self-influential first", ylabel="self-influence")
ax.legend()
fig.tight_layout()
plt.show()
