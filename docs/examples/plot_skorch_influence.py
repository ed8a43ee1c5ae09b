"""
==============================================
Influence in a small neural network (skorch)
==============================================

skinfluence reads fitted skorch networks through its torch adapter (``pip install
skinfluence[torch]``): per-sample gradients with ``torch.func`` and Hessian-vector products,
with the network's weight decay as part of the objective. It never retrains the network. For
a network, the Hessian is not positive definite in general, so we take influence with respect
to the last layer only (``ParameterSubset``), where the objective is convex given the
features below, and with a small ``damping``. Actual leave-one-out (a retrain per row) is out
of reach for a network; instead we check that the most self-influential rows are the ones
whose labels we flipped.
"""

import numpy as np
import skorch
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import StandardScaler
from torch import nn

from skinfluence import InfluenceScorer
from skinfluence.datasets import flip_labels
from skinfluence.metrics import detection_scores
from skinfluence.models import ParameterSubset

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X).astype(np.float32)
y_noisy, flipped = flip_labels(y, 0.1, random_state=0)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(30, 16), nn.Tanh())
        self.out = nn.Linear(16, 2)

    def forward(self, X):
        return self.out(self.hidden(X))


torch.manual_seed(0)
net = skorch.NeuralNetClassifier(
    MLP,
    criterion=nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=0.01,
    optimizer__weight_decay=1e-3,
    max_epochs=60,
    batch_size=-1,
    train_split=None,
    verbose=0,
).fit(X, y_noisy)
print(f"training accuracy on the noisy labels: {net.score(X, y_noisy):.3f}")

# %%
# Self-influence with respect to the last layer of the trained network.
last_layer = ParameterSubset(FrozenEstimator(net), params=["out.weight", "out.bias"])
scorer = InfluenceScorer(last_layer, damping=1e-3).fit(X, y_noisy)
result = detection_scores(flipped, scorer.scores_)
print(
    f"flipped labels found by self-influence: AUROC {result.auroc:.3f}, "
    f"AUPRC {result.auprc:.3f} (random {result.base_rate:.2f})"
)

# %%
# The training rows that most help and harm one test prediction.
why = scorer.explain(X[:1], y_noisy[:1], k=3)
print("most helpful rows:", why.helpful_indices[0], why.helpful_influence[0].round(4))
print("most harmful rows:", why.harmful_indices[0], why.harmful_influence[0].round(4))
