"""Input preprocessing fitted on the training split only: z-scoring and PCA whitening.

LeCun, Bottou, Orr, Müller, "Efficient BackProp" (1998), §4.3: shift inputs to zero mean, scale
them to equal variance, and decorrelate them, so that the Hessian of a linear model's squared
loss (∝ the input covariance) becomes well conditioned and gradient descent converges fast.

    z-score:        x̃ = (x − μ) / σ                        (per feature)
    PCA whitening:  x̃ = (x − μ) U Λ^{-1/2}                 (Σ = U Λ Uᵀ, the training covariance)

Objects follow scikit-learn's ``fit`` / ``transform`` / ``fit_transform`` shape but take and
return torch tensors (N, F), so they sit in front of any model. Fit on the training split only and
apply the fitted transform to validation and test (never refit on them).

Departures: ``eps`` is added to σ and to the eigenvalues so constant features and null
directions do not divide by zero (scikit-learn sets such scales to 1 instead).
"""

from __future__ import annotations

import torch


def _check_2d(x: torch.Tensor, what: str) -> None:
    if x.dim() != 2:
        raise ValueError(f"{what} expects a (N, F) tensor, got shape {tuple(x.shape)}")


def condition_number(x: torch.Tensor) -> float:
    """Condition number (λ_max / λ_min) of the second-moment matrix xᵀx / N of a (N, F) input —
    the Hessian of the mean squared loss of a linear model up to a factor 2."""
    _check_2d(x, "condition_number")
    eig = torch.linalg.eigvalsh(x.double().T @ x.double() / len(x))
    return float(eig.max() / eig.min().clamp_min(1e-300))


class _Fitted:
    def fit(self, x: torch.Tensor) -> _Fitted:  # pragma: no cover - overridden
        raise NotImplementedError

    def transform(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def fit_transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.fit(x).transform(x)

    def _require_fitted(self, mean: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        if mean is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(x_train) first")
        _check_2d(x, type(self).__name__)
        if x.shape[1] != mean.shape[0]:
            raise ValueError(f"fitted on {mean.shape[0]} features, got shape {tuple(x.shape)}")
        return mean


class StandardScaler(_Fitted):
    """Per-feature z-scoring: subtract the training mean, divide by the training std."""

    def __init__(self, eps: float = 1e-8) -> None:
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.eps = eps
        self.mean_: torch.Tensor | None = None
        self.scale_: torch.Tensor | None = None

    def fit(self, x: torch.Tensor) -> StandardScaler:
        _check_2d(x, "StandardScaler.fit")
        self.mean_ = x.mean(0)  # (F,)
        self.scale_ = x.std(0, unbiased=False) + self.eps  # (F,)
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        mean = self._require_fitted(self.mean_, x)
        return (x - mean) / self.scale_  # (N, F)

    def inverse_transform(self, x: torch.Tensor) -> torch.Tensor:
        mean = self._require_fitted(self.mean_, x)
        return x * self.scale_ + mean


class PCAWhitener(_Fitted):
    """Center, rotate onto the principal axes and scale each to unit variance.

    n_components: keep the leading components (None: all F); eps: added to the eigenvalues.
    """

    def __init__(self, n_components: int | None = None, eps: float = 1e-8) -> None:
        if n_components is not None and n_components < 1:
            raise ValueError(f"n_components must be >= 1 or None, got {n_components}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.n_components, self.eps = n_components, eps
        self.mean_: torch.Tensor | None = None
        self.components_: torch.Tensor | None = None
        self.explained_variance_: torch.Tensor | None = None

    def fit(self, x: torch.Tensor) -> PCAWhitener:
        _check_2d(x, "PCAWhitener.fit")
        k = self.n_components or x.shape[1]
        if k > x.shape[1]:
            raise ValueError(f"n_components={k} exceeds the {x.shape[1]} features")
        self.mean_ = x.mean(0)  # (F,)
        xc = (x - self.mean_).double()
        cov = xc.T @ xc / len(x)  # (F, F)
        eig, vec = torch.linalg.eigh(cov)  # ascending
        order = eig.argsort(descending=True)[:k]
        self.explained_variance_ = eig[order].clamp_min(0).to(x.dtype)  # (K,)
        self.components_ = vec[:, order].to(x.dtype)  # (F, K)
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        mean = self._require_fitted(self.mean_, x)
        return (x - mean) @ self.components_ / torch.sqrt(self.explained_variance_ + self.eps)  # (N, K)
