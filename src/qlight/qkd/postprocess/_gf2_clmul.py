"""Exact GF(2) Toeplitz products by carry-less multiplication (PCLMULQDQ) and Karatsuba.

Bits are packed 64 per ``uint64`` word (bit ``i`` of word ``w`` is bit ``64 w + i``,
``np.packbits(..., bitorder="little")``), and 64 × 64 → 128-bit products of GF(2)[z]
polynomials come from the x86 instruction PCLMULQDQ (Gueron & Kounavis, "Intel
carry-less multiplication instruction and its usage for computing the GCM mode", Intel
white paper 323640-002, 2010, Sec. 2), reached from numba through the LLVM intrinsic
``llvm.x86.pclmulqdq``. Nothing is rounded: the result is exact by construction, so this
back end needs no error bound.

Algorithm
---------
A square ``q × q`` Toeplitz matrix ``T[i, j] = s[i − j + q − 1]`` times a key ``x`` is the
*middle product* of the seed and the key: ``(T x)_i`` is coefficient ``i + q − 1`` of
``s(z) x(z)`` over GF(2). With the seed shifted up by one bit (``S = z s``) and
``q = 64 Q``, output word ``w`` is word ``w + Q`` of the word-level product ``S · x``, i.e.
``y_w = Σ_b lo(S_{w−b+Q} x_b) ⊕ hi(S_{w−b+Q−1} x_b)``: a ``Q × Q`` Toeplitz matrix whose
entries are the GF(2)-linear maps ``x ↦ lo(S_{d+1} x) ⊕ hi(S_d x)``, linear in ``S``.

It is computed by the transposed Karatsuba algorithm — the two-way split of a Toeplitz
matrix–vector product (Hanrot, Quercia & Zimmermann, "The middle product algorithm I",
AAECC 14, 415–438 (2004), Sec. 4; Fan & Hasan, "A new approach to subquadratic space
complexity parallel multipliers for extended binary fields", IEEE Trans. Comput. 56, 224
(2007), Sec. III): with ``Q = 2H`` and the blocks ``T = [[T1, T0], [T2, T1]]`` (generators
``S[H:3H]``, ``S[0:2H]``, ``S[2H:4H]``, each ``2H`` words), ::

    P0 = T1 (x0 ⊕ x1),   P1 = (T0 ⊕ T1) x1,   P2 = (T2 ⊕ T1) x0,
    y_top = P0 ⊕ P1,     y_bottom = P0 ⊕ P2,

three half-size products instead of four (Karatsuba & Ofman, "Multiplication of
multidigit numbers on automata", Soviet Physics Doklady 7, 595 (1963)); over GF(2) every
addition is an XOR. This costs one ``Q × Q`` Karatsuba product — half of computing the full
``2Q × Q`` product and extracting its middle. Below ``BASE_WORDS`` words the product is a
product-scanning ("comba") schoolbook: each 128-bit column is a dot product accumulated in
a vector register, ``W`` words per (V)PCLMULQDQ instruction (:func:`vector_words`). The
recursion works in a scratch array allocated once per call (``4 Q`` words; no allocation
per level). A rectangular ``m × n`` matrix is a grid of square blocks of ``Q`` words (seed
and key zero-padded; every block's generator starts at a word boundary).

Availability
------------
:func:`clmul_available` checks for x86-64 and the ``pclmul`` feature of the host CPU
(``llvmlite.binding.get_host_cpu_features``) before anything that uses the intrinsic is
compiled; elsewhere the back end is unavailable and ``"auto"`` keeps the FFT.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import njit, types
from numba.extending import intrinsic
from numpy.typing import NDArray

from qlight._numba import JIT

__all__ = [
    "BASE_WORDS",
    "clmul_available",
    "clmul_toeplitz_bits",
    "plan_words",
    "vector_words",
]

#: Largest square block (64-bit words) multiplied by the schoolbook, Karatsuba above it, per
#: vector width (:func:`vector_words`). Measured here (AMD Zen 5, one core, CPU time, best
#: of 3, 10^7-bit modified hash, m = n/2): blocks up to 16 / 32 / 48 / 64 / 96 words took
#: 422 / 180 / 100 / 100 / 81 ms with 8-word vectors (fewer Karatsuba levels: less XOR
#: traffic; a longer column loop: fewer reductions per product; at 16 the 10-word blocks
#: are padded to 16, 1.6x the words); 128 as 96, 160–192 slower; 2-word vectors (XMM) were
#: flat between 24 and 96 words (170–196 ms, noise), 4-word ones 125 ms from 40 words up.
BASE_WORDS = {2: 40, 4: 64, 8: 96}


_AVAILABLE: list[bool] = []


def clmul_available() -> bool:
    """True on an x86-64 CPU with PCLMULQDQ (checked once, before any compilation)."""
    if not _AVAILABLE:
        ok = platform.machine().lower() in ("x86_64", "amd64")
        if ok:
            try:
                from llvmlite import binding

                ok = bool(binding.get_host_cpu_features().get("pclmul", False))
            except Exception:  # pragma: no cover - llvmlite without host feature query
                ok = False
        _AVAILABLE.append(ok)
    return _AVAILABLE[0]


def _clmul64_typer(typingctx: Any, a: Any, b: Any) -> Any:  # pragma: no cover - numba codegen
    """``(lo, hi)`` of the 128-bit carry-less product of two ``uint64`` (PCLMULQDQ)."""
    sig = types.UniTuple(types.uint64, 2)(  # type: ignore[no-untyped-call]
        types.uint64, types.uint64
    )

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i64 = ir.IntType(64)
        i32 = ir.IntType(32)
        v2 = ir.VectorType(i64, 2)
        i8 = ir.IntType(8)
        fnty = ir.FunctionType(v2, [v2, v2, i8])
        fn = builder.module.declare_intrinsic("llvm.x86.pclmulqdq", fnty=fnty)
        undef = ir.Constant(v2, ir.Undefined)
        va = builder.insert_element(undef, args[0], ir.Constant(i32, 0))
        vb = builder.insert_element(undef, args[1], ir.Constant(i32, 0))
        r = builder.call(fn, [va, vb, ir.Constant(i8, 0)])
        lo = builder.extract_element(r, ir.Constant(i32, 0))
        hi = builder.extract_element(r, ir.Constant(i32, 1))
        return context.make_tuple(builder, signature.return_type, [lo, hi])

    return sig, codegen


_clmul64: Any = intrinsic(_clmul64_typer)


def vector_words() -> int:
    """Words per carry-less vector instruction on this CPU: 8 with VPCLMULQDQ on AVX-512
    registers, 4 with VPCLMULQDQ on AVX2 registers, 2 with plain PCLMULQDQ (XMM).

    ``QLIGHT_CLMUL_WIDTH`` (2, 4 or 8) may lower it (used by the tests to cover every
    width on one machine, each in a process with its own numba cache directory; a kernel
    that numba's cache compiled with another width still gives exact results).
    """
    if not _WIDTH:
        width = 2
        try:
            from llvmlite import binding

            feat = binding.get_host_cpu_features()
            if feat.get("vpclmulqdq", False) and feat.get("avx512f", False):
                width = 8
            elif feat.get("vpclmulqdq", False) and feat.get("avx2", False):
                width = 4
        except Exception:  # pragma: no cover - llvmlite without host feature query
            width = 2
        wanted = os.environ.get("QLIGHT_CLMUL_WIDTH", "")
        if wanted in ("2", "4", "8"):
            width = min(width, int(wanted))
        _WIDTH.append(width)
    return _WIDTH[0]


_WIDTH: list[int] = []
_PCLMUL = {2: "llvm.x86.pclmulqdq", 4: "llvm.x86.pclmulqdq.256", 8: "llvm.x86.pclmulqdq.512"}


def _dot_typer(typingctx: Any, s: Any, x: Any, s0: Any, chunks: Any) -> Any:  # pragma: no cover
    """``(lo, hi)`` of ``Σ_{t < W·chunks} S[s0 + t] · x[t]`` (a 128-bit column of ``S · x``
    against the reversed key), ``W`` = :func:`vector_words`.

    One loop in LLVM IR: each step loads ``W`` words of both operands into one vector
    register and adds the products of the even lanes (selector 0x00) and of the odd lanes
    (0x11) to a vector accumulator — (V)PCLMULQDQ multiplies the selected 64-bit halves of
    every 128-bit lane (Intel SDM, "VPCLMULQDQ"); the lanes are XOR-reduced at the end.
    """
    sig = types.UniTuple(types.uint64, 2)(  # type: ignore[no-untyped-call]
        s, x, types.intp, types.intp
    )
    width = vector_words()

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i64 = ir.IntType(64)
        i32 = ir.IntType(32)
        i8 = ir.IntType(8)
        vec = ir.VectorType(i64, width)
        fnty = ir.FunctionType(vec, [vec, vec, i8])
        fn = builder.module.declare_intrinsic(_PCLMUL[width], fnty=fnty)
        sp = context.make_array(signature.args[0])(context, builder, args[0]).data
        xp = context.make_array(signature.args[1])(context, builder, args[1]).data
        s0, chunks = args[2], args[3]
        zero = ir.Constant(vec, [ir.Constant(i64, 0)] * width)
        pre = builder.block
        loop = builder.append_basic_block("clmul.loop")
        done = builder.append_basic_block("clmul.done")
        builder.cbranch(builder.icmp_signed(">", chunks, ir.Constant(i64, 0)), loop, done)
        builder.position_at_end(loop)
        i = builder.phi(i64)
        acc = builder.phi(vec)
        t = builder.mul(i, ir.Constant(i64, width))
        s_at = builder.gep(sp, [builder.add(s0, t)])
        a = builder.load(builder.bitcast(s_at, vec.as_pointer()), align=8)
        xv = builder.load(builder.bitcast(builder.gep(xp, [t]), vec.as_pointer()), align=8)
        even = builder.call(fn, [a, xv, ir.Constant(i8, 0x00)])
        odd = builder.call(fn, [a, xv, ir.Constant(i8, 0x11)])
        acc2 = builder.xor(acc, builder.xor(even, odd))
        i_next = builder.add(i, ir.Constant(i64, 1))
        i.add_incoming(ir.Constant(i64, 0), pre)
        i.add_incoming(i_next, loop)
        acc.add_incoming(zero, pre)
        acc.add_incoming(acc2, loop)
        builder.cbranch(builder.icmp_signed("<", i_next, chunks), loop, done)
        builder.position_at_end(done)
        res = builder.phi(vec)
        res.add_incoming(zero, pre)
        res.add_incoming(acc2, loop)
        size = width
        while size > 2:  # fold the upper half of the lanes onto the lower half
            size //= 2
            low = ir.Constant(ir.VectorType(i32, size), list(range(size)))
            high = ir.Constant(ir.VectorType(i32, size), list(range(size, 2 * size)))
            res = builder.xor(
                builder.shuffle_vector(res, res, low), builder.shuffle_vector(res, res, high)
            )
        lo = builder.extract_element(res, ir.Constant(i32, 0))
        hi = builder.extract_element(res, ir.Constant(i32, 1))
        return context.make_tuple(builder, signature.return_type, [lo, hi])

    return sig, codegen


_dot: Any = intrinsic(_dot_typer)


def _lanes_typer(typingctx: Any) -> Any:  # pragma: no cover - numba codegen
    """The vector width that :func:`_dot` was compiled with, as a compile-time constant (so
    a kernel loaded from numba's cache stays consistent with itself)."""
    width = vector_words()

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return ir.Constant(ir.IntType(64), width)

    return types.intp(), codegen


_lanes: Any = intrinsic(_lanes_typer)


@njit(**JIT)  # type: ignore[untyped-decorator]
def _clmul_pair(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover
    return _clmul64(a, b)  # type: ignore[no-any-return]


@njit(**JIT)  # type: ignore[untyped-decorator]
def _column(
    s: NDArray[np.uint64], xr: NDArray[np.uint64], s0: int, q: int
) -> tuple[np.uint64, np.uint64]:  # pragma: no cover - numba
    """``Σ_{t < q} S[s0 + t] · xr[t]``: the vector loop, then the last ``q mod W`` words."""
    width = _lanes()
    chunks = q // width
    lo, hi = _dot(s, xr, s0, chunks)
    for t in range(chunks * width, q):
        a, b = _clmul64(s[s0 + t], xr[t])
        lo ^= a
        hi ^= b
    return lo, hi


@njit(**JIT)  # type: ignore[untyped-decorator]
def _base(
    s: NDArray[np.uint64],
    x: NDArray[np.uint64],
    y: NDArray[np.uint64],
    q: int,
    xr: NDArray[np.uint64],
) -> None:  # pragma: no cover - numba
    """``y = T x`` for a ``q``-word block by product scanning: with the key reversed into
    ``xr``, column ``k`` of ``S · x`` is the dot product ``Σ_t S[k − q + 1 + t] xr[t]``,
    accumulated in registers; ``y_w = lo(c_{w+q}) ⊕ hi(c_{w+q−1})``."""
    for t in range(q):
        xr[t] = x[q - 1 - t]
    lo, prev_hi = _column(s, xr, 0, q)  # column q − 1: only its high half is used
    for w in range(q):
        lo, hi = _column(s, xr, w + 1, q)  # column w + q
        y[w] = lo ^ prev_hi
        prev_hi = hi


@njit(**JIT)  # type: ignore[untyped-decorator]
def _tmvp(
    s: NDArray[np.uint64],
    x: NDArray[np.uint64],
    y: NDArray[np.uint64],
    q: int,
    scratch: NDArray[np.uint64],
    base: int,
) -> None:  # pragma: no cover - numba
    """``y = T x`` for a ``q``-word block (generator ``s``: ``2q`` words), transposed
    Karatsuba down to ``base`` words; ``scratch`` holds >= ``4q`` words."""
    if q <= base or q & 1:
        _base(s, x, y, q, scratch)
        return
    h = q >> 1
    g = scratch[: 2 * h]
    xs = scratch[2 * h : 3 * h]
    p0 = scratch[3 * h : 4 * h]
    rest = scratch[4 * h :]
    # XOR passes over views indexed from 0: numba vectorises these, not ``s[h + i]`` (4x)
    s0, s1, s2 = s[: 2 * h], s[h : 3 * h], s[2 * h : 4 * h]
    x0, x1 = x[:h], x[h:q]
    y0, y1 = y[:h], y[h:q]
    for i in range(2 * h):  # T0 ⊕ T1
        g[i] = s0[i] ^ s1[i]
    _tmvp(g, x1, y0, h, rest, base)  # P1 -> y_top
    for i in range(2 * h):  # T2 ⊕ T1
        g[i] = s2[i] ^ s1[i]
    _tmvp(g, x0, y1, h, rest, base)  # P2 -> y_bottom
    for i in range(h):
        xs[i] = x0[i] ^ x1[i]
    _tmvp(s1, xs, p0, h, rest, base)  # P0
    for i in range(h):
        y0[i] ^= p0[i]
    for i in range(h):
        y1[i] ^= p0[i]


@njit(**JIT)  # type: ignore[untyped-decorator]
def _grid(
    s: NDArray[np.uint64],
    x: NDArray[np.uint64],
    q: int,
    n_rows: int,
    n_cols: int,
    base: int,
) -> NDArray[np.uint64]:  # pragma: no cover - numba
    """Output words of the ``n_rows × n_cols`` grid of ``q``-word square blocks; block
    ``(r, c)`` has generator ``s[(r − c + n_cols − 1) q :][: 2 q]``."""
    y = np.zeros(n_rows * q, dtype=np.uint64)
    part = np.empty(q, dtype=np.uint64)
    scratch = np.empty(4 * q + 64, dtype=np.uint64)
    for r in range(n_rows):
        yr = y[r * q : (r + 1) * q]
        for c in range(n_cols):
            off = (r - c + n_cols - 1) * q
            _tmvp(s[off : off + 2 * q], x[c * q : (c + 1) * q], part, q, scratch, base)
            for i in range(q):
                yr[i] ^= part[i]
    return y


@njit(**JIT)  # type: ignore[untyped-decorator]
def _shift_into(
    dst: NDArray[np.uint64], src: NDArray[np.uint64], bit_offset: int
) -> None:  # pragma: no cover - numba
    """``dst |= src << bit_offset`` as one long little-endian bit string."""
    w0 = bit_offset >> 6
    sh = bit_offset & 63
    n = min(src.size, dst.size - w0)
    if sh == 0:
        for i in range(n):
            dst[w0 + i] |= src[i]
        return
    ush = np.uint64(sh)
    back = np.uint64(64 - sh)
    for i in range(n):
        v = src[i]
        dst[w0 + i] |= v << ush
        if w0 + i + 1 < dst.size:
            dst[w0 + i + 1] |= v >> back


def _pack(bits: NDArray[np.uint8]) -> NDArray[np.uint64]:
    """0/1 bits → little-endian ``uint64`` words (bit ``i`` of word ``w`` = bit ``64 w + i``)."""
    packed = np.packbits(bits, bitorder="little")
    words = np.zeros(-(-packed.size // 8), dtype=np.uint64)
    words.view(np.uint8)[: packed.size] = packed
    return words


def plan_words(m: int, n: int, base: int | None = None) -> int:
    """Block size ``Q`` (words) for an ``m × n`` product: ``B · 2^k`` for the least ``k``
    with ``B = ⌈need / 2^k⌉ <= base`` (``need`` = words of ``min(m, n)`` bits), ``B`` rounded
    up to a multiple of the vector width (:func:`vector_words`) where ``base`` allows, so the
    schoolbook blocks have no scalar tail. Zero padding: below ``(2^k)·W`` words."""
    width = vector_words()
    if base is None:
        base = BASE_WORDS[width]
    need = -(-min(m, n) // 64)
    k = 0
    while -(-need // (1 << k)) > base:
        k += 1
    block = -(-need // (1 << k))
    if base >= width:
        block = min(-(-block // width) * width, base)
    return block << k


def clmul_toeplitz_bits(
    x: NDArray[np.uint8], s: NDArray[np.uint8], m: int, base: int | None = None
) -> NDArray[np.uint8]:
    """``T x`` over GF(2) for ``T[i, j] = s[i − j + n − 1]`` (``s``: ``m + n − 1`` bits).

    Inputs are validated 0/1 ``uint8`` arrays (the public wrappers in
    :mod:`qlight.qkd.postprocess.toeplitz` check them). The ``m × n`` matrix is zero-padded
    to ``n_rows × n_cols`` square blocks of ``q = 64 Q`` bits: the padded matrix
    ``T'[i, j] = s'[i − j + N − 1]`` with ``N = 64 Q n_cols`` and ``s'`` = ``N − n`` zero bits,
    then ``s``, then zeros; its extra columns meet zero key bits and its extra rows are
    dropped. The packed generator is ``S = z s'`` (one more leading zero bit).
    """
    n = x.size
    if base is None:
        base = BASE_WORDS[vector_words()]
    q = plan_words(m, n, base)
    n_cols = -(-n // (64 * q))
    n_rows = -(-m // (64 * q))
    seed = np.zeros((n_rows + n_cols) * q, dtype=np.uint64)
    _shift_into(seed, _pack(s), 1 + 64 * q * n_cols - n)
    key = np.zeros(n_cols * q, dtype=np.uint64)
    packed = _pack(x)
    key[: packed.size] = packed
    y = _grid(seed, key, q, n_rows, n_cols, base)
    bits = np.unpackbits(y.view(np.uint8), bitorder="little")
    out: NDArray[np.uint8] = bits[:m].copy()
    return out
