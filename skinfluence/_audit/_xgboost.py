"""The audit's ``--model xgboost``: an XGBClassifier that takes any class labels.

XGBoost's classifier accepts only the labels 0..K − 1 (string or other labels raise in
``fit``); the audit's data can have any labels. Imported only when ``--model xgboost`` is
asked for (it imports xgboost).
"""

import numpy as np
from sklearn.preprocessing import LabelEncoder
from xgboost import XGBClassifier


class LabelEncodedXGBClassifier(XGBClassifier):
    """``XGBClassifier`` fitted on the label codes, predicting and reporting the labels.

    ``classes_`` holds the original labels (sorted) in the order of the probability
    columns, as scikit-learn classifiers do; the tree readers see an ``XGBClassifier``.
    """

    def fit(self, X, y, **kwargs):
        encoder = LabelEncoder().fit(y)
        self.__dict__.pop("_label_encoder", None)  # XGBoost's fit checks classes_ = 0..K − 1
        super().fit(X, encoder.transform(y), **kwargs)
        self._label_encoder = encoder
        return self

    @property
    def classes_(self):
        encoder = self.__dict__.get("_label_encoder")
        return np.arange(self.n_classes_) if encoder is None else encoder.classes_

    def predict(self, X, **kwargs):
        out = super().predict(X, **kwargs)
        if kwargs.get("output_margin"):  # raw scores (the tree readers ask for them)
            return out
        return self._label_encoder.inverse_transform(np.asarray(out, dtype=np.intp))
