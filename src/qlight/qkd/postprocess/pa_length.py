"""Output length of privacy amplification from the finite-key formula of the theory module.

Applies the finite-key BB84 bound of :func:`qlight.qkd.theory.sps_finite_key_rate` (Lim,
Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eqs. (1)–(5), with the GLLP tagging bound
in place of the decoy estimates) to the *observed* counts of one post-processing block::

    s_K >= n_K (1 − Δ) − δ(n_K, ε1),   s_S >= n_S (1 − Δ) − δ(n_S, ε1),   Δ = p_multi / Q,
    φ <= m_S / s_S + γ(ε1, m_S / s_S, s_S, s_K),
    ℓ = ⌊s_K (1 − h(φ)) − λ_EC − 6 log2(21/ε_sec) − log2(2/ε_cor)⌋,

where ``n_K`` are the reconciled key bits, ``n_S``/``m_S`` the size and errors of the random
sample used for estimation (BB84 with symmetric bases: the sample's bit-error rate bounds
the phase-error rate of the key bits, as the key-basis / test-basis roles of Lim et al.),
``λ_EC`` the bits actually disclosed by reconciliation and verification, and δ, γ, the
penalty from :mod:`qlight.qkd.theory.finite_key`. A decoy-state source is treated by the
tagging bound of its signal class (conservative: decoys are not used).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qlight.errors import ParameterError
from qlight.qkd.theory import FiniteKeySettings, binary_entropy
from qlight.qkd.theory.finite_key import hoeffding_delta, sampling_gamma

__all__ = ["SecretLength", "secret_length"]


@dataclass(frozen=True)
class SecretLength:
    """ℓ and the terms that give it (all in bits, except φ and Δ)."""

    length_bits: int
    untagged_key_bits: float
    phase_error_bound: float
    tagged_fraction: float
    leak_ec_bits: int
    penalty_bits: float
    reason: str | None


def secret_length(
    n_key: int,
    n_sample: int,
    sample_errors: int,
    leak_ec_bits: int,
    *,
    gain: float,
    p_multi: float,
    eps_sec: float = 1e-10,
    eps_cor: float = 1e-15,
) -> SecretLength:
    """Secret-key length ℓ (module docstring) of a block of ``n_key`` reconciled bits.

    Parameters
    ----------
    n_key : int
        Reconciled, verified key bits entering privacy amplification.
    n_sample, sample_errors : int
        Size of the disclosed random sample and its errors.
    leak_ec_bits : int
        Bits disclosed by error correction and verification.
    gain : float
        Detection probability per signal pulse Q (for Δ = p_multi/Q).
    p_multi : float
        Multi-photon probability of the source
        (:func:`qlight.qkd.theory.multi_photon_probability`).
    eps_sec, eps_cor : float
        Secrecy and correctness parameters.

    Returns
    -------
    SecretLength
        ``length_bits = 0`` with a ``reason`` when nothing is secret.
    """
    for name, v in (("n_key", n_key), ("n_sample", n_sample), ("sample_errors", sample_errors)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ParameterError(name, v, "must be an integer >= 0")
    if sample_errors > n_sample:
        raise ParameterError("sample_errors", sample_errors, f"must be <= n_sample={n_sample}")
    if not 0.0 < gain <= 1.0:
        raise ParameterError("gain", gain, "must be in (0, 1]")
    if not 0.0 <= p_multi <= 1.0:
        raise ParameterError("p_multi", p_multi, "must be in [0, 1]")
    settings = FiniteKeySettings(max(n_key, 1), eps_sec, eps_cor)
    e1 = settings.eps1
    delta = min(p_multi / gain, 1.0)
    s_k = n_key * (1.0 - delta) - hoeffding_delta(n_key, e1)
    s_s = n_sample * (1.0 - delta) - hoeffding_delta(n_sample, e1)
    penalty = settings.penalty_bits()
    if s_k <= 0.0 or s_s <= 0.0:
        return SecretLength(0, s_k, 0.5, delta, leak_ec_bits, penalty, "too few untagged bits")
    b = min(sample_errors / s_s, 0.5)
    phi = min(b + sampling_gamma(e1, b, s_s, s_k), 0.5)
    ell = s_k * (1.0 - binary_entropy(phi)) - leak_ec_bits - penalty
    length = min(max(math.floor(ell), 0), n_key)
    why = None if length > 0 else "finite-key corrections and error correction consume the key"
    return SecretLength(length, s_k, phi, delta, leak_ec_bits, penalty, why)
