"""Sifting from link records: two-party exchange equals the local shortcut."""

from __future__ import annotations

import numpy as np
import pytest

from qlight.errors import ParameterError
from qlight.qkd.link.records import LinkRecord
from qlight.qkd.postprocess.channel import channel_pair, run_two_party
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.sifting import alice_view, bob_view, sift, sift_alice, sift_bob


def _record(n: int, seed: int) -> LinkRecord:
    rng = np.random.default_rng(seed)
    u8 = lambda hi: rng.integers(0, hi, n).astype(np.uint8)  # noqa: E731
    idx = np.sort(rng.choice(10 * n, n, replace=False)).astype(np.int64)
    return LinkRecord(
        pulse_index=idx,
        t_ps=idx * 1000,
        alice_basis=u8(2),
        alice_bit=u8(2),
        intensity=u8(3),
        bob_basis=u8(2),
        bob_bit=u8(2),
        flags=np.zeros(n, np.uint8),
        n_pulses=10 * n,
        sent_per_intensity=np.array([5 * n, 3 * n, 2 * n], np.int64),
        intensities=(0.5, 0.1, 0.0),
    )


@pytest.mark.parametrize(("basis", "intensity"), [(None, 0), (0, 0), (1, None), (None, None)])
def test_two_party_sifting_equals_local(basis: int | None, intensity: int | None) -> None:
    rec = _record(3000, 1)
    chans = channel_pair()
    ka, kb = run_two_party(
        lambda: sift_alice(alice_view(rec), chans[0], key_basis=basis, key_intensity=intensity),
        lambda: sift_bob(bob_view(rec), chans[1]),
        chans,
    )
    la, lb = sift(rec, key_basis=basis, key_intensity=intensity)
    np.testing.assert_array_equal(ka, la)
    np.testing.assert_array_equal(kb, lb)
    keep = rec.alice_basis == rec.bob_basis
    if basis is not None:
        keep &= rec.alice_basis == basis
    if intensity is not None:
        keep &= rec.intensity == intensity
    np.testing.assert_array_equal(la, rec.alice_bit[keep])
    assert ka.size == int(keep.sum()) > 0
    assert chans[0].ledger.leaked_bits_sent == chans[1].ledger.leaked_bits_sent == 0


def test_mismatched_records_abort() -> None:
    r1, r2 = _record(100, 1), _record(100, 2)
    chans = channel_pair(timeout_s=5.0)
    with pytest.raises(ProtocolAbort, match="mismatched records"):
        run_two_party(
            lambda: sift_alice(alice_view(r1), chans[0]),
            lambda: sift_bob(bob_view(r2), chans[1]),
            chans,
        )
    with pytest.raises(ParameterError):
        sift(r1, key_basis=2)
