"""Two-dimensional similarity transforms between the chip frame and the stage frame.

Convention (the same as the twin's frame model, docs/twin/chip-optics-stage.md): a chip-frame
point ``p_c`` is seen by the stage at ``p_s = s·R(θ)·p_c + t``. :func:`fit_similarity`
estimates ``(t, θ, s)`` from point correspondences by the weighted Umeyama method (Umeyama,
IEEE TPAMI 13, 376 (1991), eqs. 34–42, with per-point weights) and returns the parameter
covariance from the Gauss–Markov normal equations of the equivalent linear model
``x_s = a·x_c − b·y_c + t_x``, ``y_s = b·x_c + a·y_c + t_y`` (``a = s cos θ``,
``b = s sin θ``; Hartley & Zisserman, *Multiple View Geometry*, 2nd ed., §4.2.2 and §5.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_finite, check_positive
from qlight.errors import ParameterError

__all__ = ["Similarity2D", "SimilarityFit", "as_points", "fit_similarity"]

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Similarity2D:
    """Chip → stage similarity ``p_s = s·R(θ)·p_c + t`` (metres, radians).

    Parameters
    ----------
    tx_m, ty_m : float
        Translation (stage frame).
    rotation_rad : float
        Rotation angle θ (counter-clockwise).
    scale : float
        Scale factor s (> 0; 1 for a calibrated stage).
    """

    tx_m: float
    ty_m: float
    rotation_rad: float
    scale: float = 1.0

    def __post_init__(self) -> None:
        check_finite("tx_m", self.tx_m)
        check_finite("ty_m", self.ty_m)
        check_finite("rotation_rad", self.rotation_rad)
        check_positive("scale", self.scale)

    @staticmethod
    def identity() -> Similarity2D:
        """The identity transform."""
        return Similarity2D(0.0, 0.0, 0.0, 1.0)

    @property
    def linear(self) -> F64:
        """The 2 × 2 matrix ``s·R(θ)``."""
        c, s = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
        return self.scale * np.array([[c, -s], [s, c]])

    def matrix(self) -> F64:
        """Homogeneous 3 × 3 matrix."""
        m = np.eye(3)
        m[:2, :2] = self.linear
        m[:2, 2] = (self.tx_m, self.ty_m)
        return m

    def apply(self, x_chip_m: ArrayLike, y_chip_m: ArrayLike) -> tuple[F64, F64]:
        """Map chip-frame coordinates to the stage frame."""
        x = np.asarray(x_chip_m, dtype=np.float64)
        y = np.asarray(y_chip_m, dtype=np.float64)
        m = self.linear
        return m[0, 0] * x + m[0, 1] * y + self.tx_m, m[1, 0] * x + m[1, 1] * y + self.ty_m

    def apply_inverse(self, x_stage_m: ArrayLike, y_stage_m: ArrayLike) -> tuple[F64, F64]:
        """Map stage-frame coordinates to the chip frame."""
        return self.inverse().apply(x_stage_m, y_stage_m)

    def apply_points(self, p_chip: ArrayLike) -> F64:
        """Map an ``(n, 2)`` array of chip-frame points to the stage frame."""
        p = as_points("p_chip", p_chip)
        x, y = self.apply(p[:, 0], p[:, 1])
        return np.column_stack([x, y])

    def inverse(self) -> Similarity2D:
        """The stage → chip transform, as a similarity."""
        inv = self.linear.T / self.scale**2
        t = -inv @ np.array([self.tx_m, self.ty_m])
        return Similarity2D(float(t[0]), float(t[1]), -self.rotation_rad, 1.0 / self.scale)

    def compose(self, other: Similarity2D) -> Similarity2D:
        """``self ∘ other``: apply ``other`` first."""
        t = self.linear @ np.array([other.tx_m, other.ty_m]) + np.array([self.tx_m, self.ty_m])
        return Similarity2D(
            float(t[0]),
            float(t[1]),
            math.remainder(self.rotation_rad + other.rotation_rad, 2 * math.pi),
            self.scale * other.scale,
        )


def as_points(name: str, p: ArrayLike) -> F64:
    """Validate and return an ``(n, 2)`` float64 array of finite points."""
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ParameterError(name, a.shape, "must have shape (n, 2)")
    if not np.all(np.isfinite(a)):
        raise ParameterError(name, "non-finite", "must be finite")
    return np.ascontiguousarray(a)


@dataclass(frozen=True, slots=True)
class SimilarityFit:
    """A fitted similarity with its uncertainty.

    Attributes
    ----------
    transform : Similarity2D
        The estimate.
    param_covariance : ndarray, shape (4, 4)
        Covariance of the linear parameters ``(a, b, t_x, t_y)``, ``a = s cos θ``,
        ``b = s sin θ`` (m² for the translations).
    rms_m : float
        Root-mean-square residual of the correspondences.
    n_points : int
        Number of correspondences.
    chi2_per_dof : float
        ``Σ w r² / (2n − 4)`` with the given weights (``nan`` when ``n = 2``).
    reflected : bool
        True when ``allow_reflection`` chose a mirror image (``transform`` is then the proper
        part: the true map is ``transform`` applied after ``y → −y``).
    """

    transform: Similarity2D
    param_covariance: F64
    rms_m: float
    n_points: int
    chi2_per_dof: float
    reflected: bool = field(default=False)

    @property
    def covariance(self) -> F64:
        """Covariance over ``(tx_m, ty_m, rotation_rad, scale)`` (the registry's order).

        First-order propagation from ``(a, b, t_x, t_y)``: ``θ = atan2(b, a)``,
        ``s = hypot(a, b)``.
        """
        s = self.transform.scale
        c, n = math.cos(self.transform.rotation_rad), math.sin(self.transform.rotation_rad)
        a, b = s * c, s * n
        j = np.zeros((4, 4))
        j[0, 2] = j[1, 3] = 1.0
        j[2, 0], j[2, 1] = -b / s**2, a / s**2
        j[3, 0], j[3, 1] = a / s, b / s
        cov: F64 = j @ self.param_covariance @ j.T
        return cov

    def predict(self, x_chip_m: float, y_chip_m: float) -> tuple[float, float, F64]:
        """Stage-frame image of a chip point and its 2 × 2 covariance from the fit."""
        xs, ys = self.transform.apply(x_chip_m, y_chip_m)
        jac = np.array([[x_chip_m, -y_chip_m, 1.0, 0.0], [y_chip_m, x_chip_m, 0.0, 1.0]])
        cov: F64 = jac @ self.param_covariance @ jac.T
        return float(xs), float(ys), cov


def _weights(n: int, weights: ArrayLike | None, sigma_m: ArrayLike | None) -> tuple[F64, bool]:
    if weights is not None and sigma_m is not None:
        raise ParameterError("weights", "both", "give weights or sigma_m, not both")
    if sigma_m is not None:
        s = np.broadcast_to(np.asarray(sigma_m, dtype=np.float64), (n,))
        if not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise ParameterError("sigma_m", "array", "must be finite and > 0")
        return 1.0 / s**2, True
    if weights is None:
        return np.ones(n), False
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), (n,)).copy()
    if not np.all(np.isfinite(w)) or np.any(w < 0) or np.count_nonzero(w) < 2:
        raise ParameterError("weights", "array", "must be finite, >= 0, with >= 2 positive")
    return w, False


def fit_similarity(
    src_chip: ArrayLike,
    dst_stage: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    sigma_m: ArrayLike | float | None = None,
    allow_reflection: bool = False,
) -> SimilarityFit:
    """Weighted least-squares similarity ``dst ≈ s·R·src + t`` (weighted Umeyama).

    Minimises ``Σ wᵢ |dstᵢ − s R srcᵢ − t|²`` in closed form: weighted centroids, the
    weighted cross-covariance ``Σ = Σ wᵢ (dstᵢ − μ_d)(srcᵢ − μ_s)ᵀ / Σ w``, its SVD
    ``U D Vᵀ``, ``R = U S Vᵀ`` with ``S = diag(1, det(U)det(V))`` unless reflections are
    allowed, ``s = tr(D S)/σ_s²``, ``t = μ_d − s R μ_s`` (Umeyama 1991, eqs. 40–42).

    Covariance: for the linear parameters ``q = (a, b, t_x, t_y)`` with design matrix ``A``
    (two rows per point) and weights ``W``, ``Cov(q) = κ·(AᵀWA)⁻¹`` (Gauss–Markov). With
    ``sigma_m`` (absolute 1σ per point and axis, ``w = 1/σ²``), ``κ = max(1, χ²/dof)``:
    the stated noise, inflated when the residuals show more. With relative ``weights``,
    ``κ = χ²/dof`` (the noise is estimated from the residuals; needs ``n ≥ 3``).

    Parameters
    ----------
    src_chip, dst_stage : array_like, shape (n, 2)
        Corresponding chip-frame and stage-frame points (n ≥ 2).
    weights : array_like, optional
        Relative non-negative weights per correspondence.
    sigma_m : float or array_like, optional
        Absolute 1σ noise per correspondence (per axis).
    allow_reflection : bool
        Allow a mirror image (then :attr:`SimilarityFit.reflected` may be True).
    """
    src = as_points("src_chip", src_chip)
    dst = as_points("dst_stage", dst_stage)
    if src.shape != dst.shape:
        raise ParameterError("dst_stage", dst.shape, f"must match src_chip {src.shape}")
    n = src.shape[0]
    if n < 2:
        raise ParameterError("src_chip", n, "needs at least 2 correspondences")
    w, absolute = _weights(n, weights, sigma_m)
    wsum = float(w.sum())
    mu_s = (w[:, None] * src).sum(axis=0) / wsum
    mu_d = (w[:, None] * dst).sum(axis=0) / wsum
    cs, cd = src - mu_s, dst - mu_d
    var_s = float((w * (cs**2).sum(axis=1)).sum() / wsum)
    if var_s <= 0.0:
        raise ParameterError("src_chip", "degenerate", "points must not all coincide")
    sigma = (w[:, None, None] * cd[:, :, None] * cs[:, None, :]).sum(axis=0) / wsum
    u, d, vt = np.linalg.svd(sigma)
    sign = 1.0 if np.linalg.det(u) * np.linalg.det(vt) > 0 else -1.0
    reflected = allow_reflection and sign < 0
    smat = np.eye(2) if allow_reflection else np.diag([1.0, sign])
    rot = u @ smat @ vt
    scale = float(np.trace(np.diag(d) @ smat) / var_s)
    t = mu_d - scale * rot @ mu_s
    if reflected:
        # rot = R(θ)·diag(1, −1): keep the proper part
        proper = rot @ np.diag([1.0, -1.0])
        theta = math.atan2(proper[1, 0], proper[0, 0])
        src_eff = src * np.array([1.0, -1.0])
    else:
        theta = math.atan2(rot[1, 0], rot[0, 0])
        src_eff = src
    if scale <= 0.0:
        raise ParameterError("dst_stage", "degenerate", "gives a non-positive scale")
    tf = Similarity2D(float(t[0]), float(t[1]), theta, scale)
    pred = tf.apply_points(src_eff)
    r2 = ((dst - pred) ** 2).sum(axis=1)
    rms = math.sqrt(float(r2.mean()))
    a_mat = np.zeros((2 * n, 4))
    a_mat[0::2, 0], a_mat[0::2, 1], a_mat[0::2, 2] = src_eff[:, 0], -src_eff[:, 1], 1.0
    a_mat[1::2, 0], a_mat[1::2, 1], a_mat[1::2, 3] = src_eff[:, 1], src_eff[:, 0], 1.0
    w2 = np.repeat(w, 2)
    normal = a_mat.T @ (w2[:, None] * a_mat)
    # Jacobi scaling: (a, b) are dimensionless, (t_x, t_y) in metres
    dsc = 1.0 / np.sqrt(np.diag(normal))
    inv = dsc[:, None] * np.linalg.inv(dsc[:, None] * normal * dsc[None, :]) * dsc[None, :]
    dof = 2 * n - 4
    chi2 = float((w * r2).sum()) / dof if dof > 0 else math.nan
    if absolute:
        kappa = max(1.0, chi2) if dof > 0 else 1.0
    else:
        if dof <= 0:
            raise ParameterError("src_chip", n, "needs >= 3 points without sigma_m")
        kappa = chi2
    return SimilarityFit(tf, kappa * inv, rms, n, chi2, reflected)
