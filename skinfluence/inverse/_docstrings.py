"""Docstrings of ``fit`` and ``solve``, shared by every solver (one text, five classes)."""

FIT = """Prepare to solve with the Hessian of ``adapter``'s objective on (X, y).

        Parameters
        ----------
        adapter : ModelAdapter
            The fitted model's adapter (:func:`skinfluence.models.adapter_for`): its
            Hessian-vector products, dense Hessian or null space, as the solver needs.
        X : array-like of shape (n_samples, n_features)
            Training rows of the objective.
        y : array-like of shape (n_samples,)
            Their targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights ``w_i`` of the objective in sum form; None: the adapter's own.

        Returns
        -------
        self : object
            The fitted solver.
        """

SOLVE = """Apply ``(H + λI)⁻¹`` to the columns of V.

        Parameters
        ----------
        V : ndarray of shape (p,) or (p, k)
            Vectors of the parameter space, e.g. per-sample or test gradients.

        Returns
        -------
        X : ndarray of the shape of V
            ``(H + λI)⁻¹ V`` (exact on the complement of the adapter's flat directions).
        """


def with_shared_docstrings(cls):
    """Class decorator: give ``cls.fit`` and ``cls.solve`` the shared docstrings."""
    cls.fit.__doc__ = FIT
    cls.solve.__doc__ = SOLVE
    return cls
