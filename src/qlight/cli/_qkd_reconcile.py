"""``qlight qkd reconcile``: error correction + verification on simulated sifted keys.

Alice's key is uniform random; Bob's is Alice's through a binary symmetric channel with
crossover probability ``--qber`` (each bit flipped independently). The key is cut into frames
of ``--frame-bits``; each frame is reconciled by Alice and Bob over a fresh authenticated
channel (in-process or loopback TCP), then checked by Toeplitz-hash verification. Reports
efficiency f = leak / (n h(Q)) (Martinez-Mateo et al., QIC 15, 453 (2015), Eq. (1)), the
frame error rate before verification, bit errors left in frames that passed verification,
channel uses and throughput. Cascade over the in-process transport runs both parties in one
thread (``reconcile(..., inline=True)``), so ``throughput_mbit_s`` is sifted bits per second
of one core (``one_thread`` in the JSON says which). The frames of one run form a Cascade
session (``CascadeReconciler(session_seed=…)``, the seed drawn from ``--seed``'s generator):
the public pass permutations are computed once and reused. A frame that fails verification is
discarded — never emitted.
Registered in :mod:`qlight.cli.qkd`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from qlight.cli._output import cli_errors, print_json, progress
from qlight.errors import ParameterError
from qlight.qkd.postprocess.cascade import CascadeReconciler
from qlight.qkd.postprocess.channel import channel_pair
from qlight.qkd.postprocess.pipeline import METHODS, make_reconciler
from qlight.qkd.postprocess.reconcile import Reconciler, binary_entropy, reconcile
from qlight.qkd.postprocess.verification import verify

__all__ = ["qkd_reconcile", "run_reconcile"]

MIN_FRAME_BITS = 64  # shortest frame reconciled; a shorter remainder is dropped


def _reconciler(method: str) -> Reconciler:
    if method not in METHODS:
        raise ParameterError("--method", method, f"must be one of {', '.join(METHODS)}")
    return make_reconciler(method)


def _warm_up(rec: Reconciler, qber: float, transport: str) -> None:
    """Reconcile one small throw-away frame so JIT compilation is not timed."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 512, dtype=np.uint8)
    channels = channel_pair(transport)
    try:
        reconcile(rec, a, a ^ (rng.random(512) < qber).astype(np.uint8), qber, channels, rng)
    finally:
        for c in channels:
            c.close()


def run_reconcile(
    *,
    qber: float,
    bits: int,
    method: str,
    seed: int,
    frame_bits: int,
    eps_cor: float,
    transport: str,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Run the simulation described in the module docstring; return the summary dict."""
    if not (math.isfinite(qber) and 0.0 < qber < 0.5):
        raise ParameterError("--qber", qber, "must be in (0, 0.5)")
    if bits < MIN_FRAME_BITS:
        raise ParameterError("--bits", bits, f"must be >= {MIN_FRAME_BITS}")
    if frame_bits < MIN_FRAME_BITS:
        raise ParameterError("--frame-bits", frame_bits, f"must be >= {MIN_FRAME_BITS}")
    if transport not in ("inprocess", "tcp"):
        raise ParameterError("--transport", transport, "must be inprocess or tcp")
    rec = _reconciler(method)
    if qber > rec.max_qber:
        raise ParameterError("--qber", qber, f"must be <= {rec.max_qber:g} for method {method}")
    rng = np.random.default_rng(seed)
    if isinstance(rec, CascadeReconciler):  # one run = one session: permutations computed once
        rec = dataclasses.replace(rec, session_seed=int(rng.integers(0, 1 << 62)))
    frame = min(frame_bits, bits)
    sizes = [frame] * (bits // frame)
    if bits % frame >= MIN_FRAME_BITS:
        sizes.append(bits % frame)
    # Cascade over the in-process transport runs both parties in this one thread
    # (``inline=True``): the same messages, and ``throughput_mbit_s`` is a one-core figure.
    inline = isinstance(rec, CascadeReconciler) and transport == "inprocess"
    if isinstance(rec, CascadeReconciler):  # LDPC frames have a minimum length of their own
        _warm_up(rec, qber, transport)
    leaked = uses = ver_leak = errors_before = frame_err = failed = residual = 0
    residual_frames = 0
    wall = 0.0
    n_total = 0
    n_out = 0  # bits that came out reconciled (LDPC drops failed frames and the tail)
    with progress("reconcile", float(sum(sizes)), enabled=show_progress) as advance:
        for n in sizes:
            alice = rng.integers(0, 2, n, dtype=np.uint8)
            bob = alice ^ (rng.random(n) < qber).astype(np.uint8)
            errors_before += int(np.count_nonzero(alice != bob))
            channels = channel_pair(transport)
            try:
                res = reconcile(rec, alice, bob, qber, channels, rng, inline=inline)
                ver = verify(res.alice_key, res.bob_key, channels, eps_cor=eps_cor, rng=rng)
            finally:
                for c in channels:
                    c.close()
            leaked += res.leaked_bits
            uses += res.channel_uses
            ver_leak += ver.leaked_bits
            wall += res.wall_s
            n_total += n
            n_out += int(res.alice_key.size)
            wrong = int(np.count_nonzero(res.alice_key != res.bob_key))
            frame_err += wrong > 0
            if not ver.ok:
                failed += 1
            elif wrong:
                residual += wrong
                residual_frames += 1
            advance(n)
    q_actual = errors_before / n_total
    frames = len(sizes)
    return {
        "method": method,
        "qber": qber,
        "qber_actual": q_actual,
        "bits": n_total,
        "frames": frames,
        "frame_bits": frame,
        "transport": transport,
        "one_thread": inline,
        "cascade_session": isinstance(rec, CascadeReconciler),
        "leaked_bits": leaked,
        # f over the reconciled bits, as in the pipeline (equal to n_total for Cascade)
        "efficiency": leaked / (n_out * binary_entropy(qber)) if n_out else None,
        "efficiency_actual_qber": leaked / (n_out * binary_entropy(q_actual))
        if 0 < q_actual < 1 and n_out
        else None,
        "frame_error_rate": frame_err / frames,
        "frames_failed_verification": failed,
        "residual_bit_errors": residual,
        "residual_frame_error_rate": residual_frames / frames,
        "verification_leaked_bits": ver_leak,
        "eps_cor": eps_cor,
        "channel_uses": uses,
        "wall_s": wall,
        "throughput_mbit_s": n_total / wall / 1e6 if wall > 0 else None,
        "seed": seed,
    }


def qkd_reconcile(
    qber: Annotated[float, typer.Option("--qber", help="Crossover probability of the BSC.")],
    bits: Annotated[int, typer.Option("--bits", help="Sifted-key bits to reconcile.")],
    method: Annotated[
        str, typer.Option("--method", help="cascade | cascade-opt | ldpc.")
    ] = "cascade-opt",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    frame_bits: Annotated[
        int, typer.Option("--frame-bits", help="Bits per reconciled frame.")
    ] = 100_000,
    eps_cor: Annotated[
        float, typer.Option("--eps-cor", help="Correctness parameter of the verification.")
    ] = 1e-10,
    transport: Annotated[
        str, typer.Option("--transport", help="inprocess | tcp (loopback sockets).")
    ] = "inprocess",
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Reconcile a simulated sifted key (Cascade / optimised Cascade / LDPC) and verify it."""
    with cli_errors():
        out = run_reconcile(
            qber=qber,
            bits=bits,
            method=method,
            seed=seed,
            frame_bits=frame_bits,
            eps_cor=eps_cor,
            transport=transport,
            show_progress=not json_output,
        )
    if json_output:
        print_json(out)
        return
    table = Table(title=f"qkd reconcile ({method})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in out.items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    Console().print(table)
