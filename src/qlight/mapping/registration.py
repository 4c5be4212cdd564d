"""Register the chip frame after a power cycle: fiducial marks and/or the emitter constellation.

Inputs are what control code can know: decoded marks (:mod:`qlight.mapping.fiducials`), the
registry's chip-frame emitter positions, the stage-frame positions of spots detected now, and
a *prior* transform (the last session's) with bounds on how far the power cycle may have moved
the sample (shift, rotation, scale).

Constellation matching (:func:`match_constellation`):

1. **Hypotheses from 2-point similarity invariants.** A pair of detected spots ``(i, j)``
   and a pair of registry emitters ``(k, l)`` define a unique similarity; only pairs whose
   lengths agree within the noise and scale bound, whose direction differs by at most the
   rotation bound, and whose first member lies within the shift bound of its prior position
   are kept (a KD-tree ball query, so the search is ``O(pairs × candidates)`` not
   ``O(n⁴)``). Proper similarities only: a mirror image of the constellation never gets a
   consensus and is rejected.
2. **MSAC scoring** (Torr & Zisserman, CVIU 78, 138 (2000)): cost ``Σ min(rᵢ², c²)`` over
   all detected spots, ``rᵢ`` the distance to the nearest registry emitter after mapping.
3. **Refinement** of the best distinct hypotheses by ICP (Besl & McKay, IEEE TPAMI 14, 239
   (1992)) with one-to-one nearest-neighbour matches inside a shrinking gate and the weighted
   Umeyama fit (:func:`~qlight.mapping.similarity.fit_similarity`); the final inliers lie
   within ``k_sigma`` of the combined noise.
4. **Checks**: enough inliers (absolute and as a fraction of the spots), scale within the
   bound; the transform's covariance comes from the final weighted fit.

:func:`register` combines marks and constellation with graceful fallback: ≥ 2 marks → marks
fit, refined with the constellation when given; 1 mark → its cell fit seeds the ICP on the
constellation (the joint fit fixes the rotation over the larger lever arm); no marks → the
constellation alone. Simplification: the registry's chip-frame uncertainty and the detected
spots' uncertainty enter as one isotropic σ per point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from qlight._validation import check_positive
from qlight.errors import ParameterError, QlightError
from qlight.mapping.fiducials import MarkObservation
from qlight.mapping.similarity import Similarity2D, SimilarityFit, as_points, fit_similarity

__all__ = [
    "ConstellationConfig",
    "Registration",
    "RegistrationFailed",
    "match_constellation",
    "register",
]

F64 = NDArray[np.float64]
Method = Literal["marks", "marks+constellation", "mark+constellation", "constellation"]


class RegistrationFailed(QlightError):  # noqa: N818 (a state, not a bug)
    """No transform consistent with the data (no marks, no constellation consensus)."""


@dataclass(frozen=True, slots=True)
class ConstellationConfig:
    """Bounds and thresholds of the constellation search.

    Parameters
    ----------
    max_shift_m : float
        Largest translation of the chip centre from its prior stage position (60 µm).
    max_rotation_rad : float
        Largest rotation from the prior (3.5°).
    max_scale_error : float
        Largest relative scale change from the prior (2e-3: the stage encoders).
    sigma_m : float
        1σ per axis of a correspondence (registry + detection + drift; 50 nm).
    k_sigma : float
        Final inlier gate in units of the combined σ (4).
    hypothesis_gate_m : float
        MSAC gate for 2-point hypotheses (0.5 µm: a 2-point hypothesis on an 8 µm base is off
        by up to ≈ 2σ·L/8 µm at distance L).
    min_inliers : int
        Absolute minimum of matched spots (5).
    min_inlier_fraction : float
        Minimum fraction of the detected spots that must match (0.3).
    min_base_m, max_base_m : float
        Lengths of the spot pairs used as hypothesis bases (8–40 µm).
    max_bases : int
        Number of base pairs tried (60, longest first after a seeded shuffle).
    keep : int
        Distinct hypotheses refined and returned (5).
    """

    max_shift_m: float = 60e-6
    max_rotation_rad: float = math.radians(3.5)
    max_scale_error: float = 2e-3
    sigma_m: float = 50e-9
    k_sigma: float = 4.0
    hypothesis_gate_m: float = 0.5e-6
    min_inliers: int = 5
    min_inlier_fraction: float = 0.3
    min_base_m: float = 8e-6
    max_base_m: float = 40e-6
    max_bases: int = 60
    keep: int = 5

    def __post_init__(self) -> None:
        for name in ("max_shift_m", "max_rotation_rad", "sigma_m", "k_sigma"):
            check_positive(name, getattr(self, name))
        check_positive("hypothesis_gate_m", self.hypothesis_gate_m)
        if not 0.0 < self.max_scale_error < 0.5:
            raise ParameterError("max_scale_error", self.max_scale_error, "must be in (0, 0.5)")
        if self.min_inliers < 3:
            raise ParameterError("min_inliers", self.min_inliers, "must be >= 3")
        if not 0.0 < self.min_base_m < self.max_base_m:
            raise ParameterError("min_base_m", self.min_base_m, "must be in (0, max_base_m)")


@dataclass(frozen=True, slots=True)
class Registration:
    """A chip → stage registration.

    Attributes
    ----------
    fit : SimilarityFit
        Transform and covariance (over ``(tx_m, ty_m, rotation_rad, scale)``).
    method : str
        ``"marks"``, ``"marks+constellation"``, ``"mark+constellation"`` or
        ``"constellation"``.
    n_marks : int
        Decoded marks used.
    pairs : ndarray of int64, shape (k, 2)
        ``(registry index, spot index)`` of the matched emitters.
    cost : float
        MSAC cost of the final transform in units of σ² (lower is better).
    alternatives : tuple of Registration
        Next-best distinct hypotheses (constellation only), best first.
    """

    fit: SimilarityFit
    method: Method
    n_marks: int
    pairs: NDArray[np.int64]
    cost: float
    alternatives: tuple[Registration, ...] = field(default=())

    @property
    def transform(self) -> Similarity2D:
        """The chip → stage transform."""
        return self.fit.transform

    @property
    def n_inliers(self) -> int:
        """Number of matched emitters."""
        return int(self.pairs.shape[0])


def _two_point(c: F64, s: F64) -> Similarity2D:
    """Similarity mapping chip points ``c[0], c[1]`` exactly onto stage ``s[0], s[1]``."""
    dc, ds = c[1] - c[0], s[1] - s[0]
    zc, zs = complex(dc[0], dc[1]), complex(ds[0], ds[1])
    q = zs / zc
    t = complex(s[0][0], s[0][1]) - q * complex(c[0][0], c[0][1])
    return Similarity2D(t.real, t.imag, math.atan2(q.imag, q.real), abs(q))


def _plausible(
    tf: Similarity2D,
    prior: Similarity2D,
    cfg: ConstellationConfig,
    sd: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> bool:
    """Within the bounds, widened by 3 standard errors ``sd = (shift, rotation, scale)``."""
    if abs(tf.scale / prior.scale - 1.0) > cfg.max_scale_error + 3.0 * sd[2]:
        return False
    if abs(math.remainder(tf.rotation_rad - prior.rotation_rad, 2 * math.pi)) > (
        cfg.max_rotation_rad + 3.0 * sd[1]
    ):
        return False
    shift = math.hypot(tf.tx_m - prior.tx_m, tf.ty_m - prior.ty_m)
    return shift <= cfg.max_shift_m + 3.0 * sd[0]


def _fit_sd(fit: SimilarityFit) -> tuple[float, float, float]:
    c = np.sqrt(np.maximum(np.diag(fit.covariance), 0.0))
    return float(math.hypot(c[0], c[1])), float(c[2]), float(c[3])


def _msac(tf: Similarity2D, tree: cKDTree, stage: F64, gate_m: float) -> tuple[float, int]:
    """MSAC cost ``Σ min(r², c²)/c²`` and the number of spots inside the gate ``c``."""
    x, y = tf.apply_inverse(stage[:, 0], stage[:, 1])
    d, _ = tree.query(np.column_stack([x, y]), distance_upper_bound=gate_m)
    inside = np.isfinite(d)
    return float((np.minimum(d, gate_m) ** 2).sum() / gate_m**2), int(inside.sum())


def _matches(tf: Similarity2D, tree: cKDTree, stage: F64, gate_m: float) -> NDArray[np.int64]:
    """One-to-one ``(chip, spot)`` nearest-neighbour matches within ``gate_m``."""
    x, y = tf.apply_inverse(stage[:, 0], stage[:, 1])
    d, k = tree.query(np.column_stack([x, y]), distance_upper_bound=gate_m)
    best: dict[int, tuple[float, int]] = {}
    for i in np.nonzero(np.isfinite(d))[0]:
        kk = int(k[i])
        if kk not in best or d[i] < best[kk][0]:
            best[kk] = (float(d[i]), int(i))
    pairs = sorted((kk, i) for kk, (_, i) in best.items())
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _icp(
    tf: Similarity2D, chip: F64, tree: cKDTree, stage: F64, gate_m: float, cfg: ConstellationConfig
) -> tuple[SimilarityFit, NDArray[np.int64]] | None:
    final_gate = cfg.k_sigma * cfg.sigma_m
    gate = max(gate_m, final_gate)
    fit: SimilarityFit | None = None
    pairs = np.zeros((0, 2), dtype=np.int64)
    for _ in range(12):
        new = _matches(tf, tree, stage, gate)
        if new.shape[0] < 3:
            return None
        fit = fit_similarity(chip[new[:, 0]], stage[new[:, 1]], sigma_m=cfg.sigma_m)
        tf = fit.transform
        done = gate == final_gate and np.array_equal(new, pairs)
        pairs = new
        if done:
            break
        gate = max(final_gate, 0.5 * gate)
    if fit is None:
        return None
    return fit, pairs


def match_constellation(
    chip_xy: ArrayLike,
    stage_xy: ArrayLike,
    *,
    prior: Similarity2D,
    config: ConstellationConfig | None = None,
    rng: np.random.Generator | None = None,
) -> Registration:
    """Register registry emitters (chip frame) onto detected spots (stage frame).

    Parameters
    ----------
    chip_xy : array_like, shape (n, 2)
        Registry emitter positions (chip frame).
    stage_xy : array_like, shape (m, 2)
        Spots detected now (stage frame); may include new spots and miss bleached emitters.
    prior : Similarity2D
        The last known transform; the true one lies within ``config``'s bounds of it.
    config : ConstellationConfig, optional
        Search bounds and thresholds.
    rng : numpy.random.Generator, optional
        Orders the base pairs (default ``default_rng(0)``: deterministic).

    Returns
    -------
    Registration
        The best hypothesis, with the next distinct ones in ``alternatives``.

    Raises
    ------
    RegistrationFailed
        When no hypothesis reaches the inlier thresholds within the bounds.
    """
    cfg = ConstellationConfig() if config is None else config
    chip = as_points("chip_xy", chip_xy)
    stage = as_points("stage_xy", stage_xy)
    need = max(cfg.min_inliers, math.ceil(cfg.min_inlier_fraction * stage.shape[0]))
    if chip.shape[0] < need or stage.shape[0] < need:
        raise RegistrationFailed(
            f"too few points to register: {chip.shape[0]} registry, {stage.shape[0]} detected "
            f"(need {need})"
        )
    gen = np.random.default_rng(0) if rng is None else rng
    tree = cKDTree(chip)
    q = np.column_stack(prior.apply_inverse(stage[:, 0], stage[:, 1]))
    bases = [
        (i, j)
        for i, j in cKDTree(q).query_pairs(cfg.max_base_m)
        if np.hypot(*(q[j] - q[i])) >= cfg.min_base_m
    ]
    gen.shuffle(bases)
    bases = bases[: cfg.max_bases]
    tol = 3.0 * cfg.sigma_m * 2.0
    hyps: list[tuple[float, Similarity2D]] = []
    for i, j in bases:
        v = q[j] - q[i]
        length = float(np.hypot(*v))
        # |q − c| ≤ |e| + |c|·θ with |c| ≤ |q| + |q − c|  ⇒  (|e| + |q|θ)/(1 − θ)
        theta = cfg.max_rotation_rad + cfg.max_scale_error
        reach = (cfg.max_shift_m + float(np.hypot(*q[i])) * theta) / (1.0 - theta) + tol
        cands = tree.query_ball_point(q[i], reach)
        if not cands:
            continue
        radius = length * (cfg.max_rotation_rad + cfg.max_scale_error) + tol
        # a 2-point hypothesis on a base of this length: rotation and relative scale have a
        # standard error of 2σ/L (σ per axis at each of the two ends), the chip-centre image
        # that times its distance from the base
        rel = 2.0 * cfg.sigma_m / length
        sd_pair = (rel * (float(np.hypot(*q[i])) + length), rel, rel)
        partners = tree.query_ball_point(chip[cands] + v, radius)
        for k, ls in zip(cands, partners, strict=True):
            for ell in ls:
                if ell == k:
                    continue
                tf = _two_point(chip[[k, ell]], stage[[i, j]])
                if _plausible(tf, prior, cfg, sd_pair):
                    cost, inside = _msac(tf, tree, stage, cfg.hypothesis_gate_m)
                    if inside >= need:
                        hyps.append((cost, tf))
    hyps.sort(key=lambda h: h[0])
    results: list[Registration] = []
    for attempt, (_, tf) in enumerate(hyps):
        if len(results) >= cfg.keep or attempt >= 4 * cfg.keep:
            break
        if any(_same(tf, r.transform, cfg) for r in results):
            continue
        refined = _icp(tf, chip, tree, stage, cfg.hypothesis_gate_m, cfg)
        if refined is None:
            continue
        fit, pairs = refined
        if pairs.shape[0] < need or not _plausible(fit.transform, prior, cfg, _fit_sd(fit)):
            continue
        if any(_same(fit.transform, r.transform, cfg) for r in results):
            continue
        cost = _msac(fit.transform, tree, stage, cfg.k_sigma * cfg.sigma_m)[0]
        results.append(Registration(fit, "constellation", 0, pairs, cost))
    if not results:
        raise RegistrationFailed(
            f"no consistent constellation among {len(hyps)} hypotheses "
            f"({stage.shape[0]} spots, {chip.shape[0]} registry emitters; need {need} matches)"
        )
    results.sort(key=lambda r: (r.cost, -r.n_inliers))
    best = results[0]
    return Registration(best.fit, best.method, 0, best.pairs, best.cost, tuple(results[1:]))


def _same(a: Similarity2D, b: Similarity2D, cfg: ConstellationConfig) -> bool:
    return (
        math.hypot(a.tx_m - b.tx_m, a.ty_m - b.ty_m) < cfg.hypothesis_gate_m
        and abs(math.remainder(a.rotation_rad - b.rotation_rad, 2 * math.pi)) < 1e-3
    )


def register(
    marks: list[MarkObservation],
    chip_xy: ArrayLike | None = None,
    stage_xy: ArrayLike | None = None,
    *,
    prior: Similarity2D,
    config: ConstellationConfig | None = None,
    rng: np.random.Generator | None = None,
) -> Registration:
    """Register the chip frame from marks and/or the constellation (graceful fallback).

    With marks, all their cells enter one fit (each mark contributes 7–15 correspondences);
    given a constellation too, the mark transform seeds an ICP over the emitters and the
    final joint fit weights mark cells by their own residual scatter and emitters by
    ``config.sigma_m``. If the constellation adds fewer than ``min_inliers`` matches the
    marks-only fit is returned. Without marks: :func:`match_constellation`.

    Raises
    ------
    RegistrationFailed
        No marks and no constellation consensus, or an implausible result.
    """
    cfg = ConstellationConfig() if config is None else config
    if not marks:
        if chip_xy is None or stage_xy is None:
            raise RegistrationFailed("no fiducial mark in view and no constellation given")
        return match_constellation(chip_xy, stage_xy, prior=prior, config=cfg, rng=rng)
    mc = np.concatenate([m.cells_chip for m in marks])
    ms = np.concatenate([m.cells_stage for m in marks])
    mark_fit = fit_similarity(mc, ms)
    n_marks = len({m.index for m in marks})
    if not _plausible(mark_fit.transform, prior, cfg, _fit_sd(mark_fit)):
        raise RegistrationFailed(f"mark fit {mark_fit.transform} is outside the prior bounds")
    method: Method = "marks"
    empty = np.zeros((0, 2), dtype=np.int64)
    if chip_xy is None or stage_xy is None:
        return Registration(mark_fit, method, n_marks, empty, 0.0)
    chip = as_points("chip_xy", chip_xy)
    stage = as_points("stage_xy", stage_xy)
    if chip.shape[0] < 3 or stage.shape[0] < 3:
        return Registration(mark_fit, method, n_marks, empty, 0.0)
    tree = cKDTree(chip)
    # gate: the mark fit's prediction scatter over the constellation plus the point noise
    spread = float(np.max(np.hypot(*(stage - ms.mean(axis=0)).T)))
    sd_rot = math.sqrt(max(float(mark_fit.covariance[2, 2]), 0.0))
    gate = cfg.k_sigma * (cfg.sigma_m + sd_rot * spread) + 3.0 * mark_fit.rms_m
    refined = _icp(mark_fit.transform, chip, tree, stage, min(gate, cfg.hypothesis_gate_m), cfg)
    if refined is None or refined[1].shape[0] < cfg.min_inliers:
        return Registration(mark_fit, method, n_marks, empty, 0.0)
    pairs = refined[1]
    cell_sigma = max(math.sqrt(mark_fit.chi2_per_dof), 2e-9)
    sig = np.concatenate([np.full(mc.shape[0], cell_sigma), np.full(pairs.shape[0], cfg.sigma_m)])
    joint = fit_similarity(
        np.concatenate([mc, chip[pairs[:, 0]]]),
        np.concatenate([ms, stage[pairs[:, 1]]]),
        sigma_m=sig,
    )
    if not _plausible(joint.transform, prior, cfg, _fit_sd(joint)):
        raise RegistrationFailed(f"joint fit {joint.transform} is outside the prior bounds")
    method = "marks+constellation" if n_marks >= 2 else "mark+constellation"
    cost = _msac(joint.transform, tree, stage, cfg.k_sigma * cfg.sigma_m)[0]
    return Registration(joint, method, n_marks, pairs, cost)
