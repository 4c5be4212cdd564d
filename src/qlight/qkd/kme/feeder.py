"""The feeder: runs the simulated BB84 link and post-processing in rounds and puts every final
key into both KMEs' pools, so the two stores hold identical chunks under identical IDs.

Each round simulates ``pulses_per_round`` pulses of a single-photon-source link
(:func:`qlight.qkd.link.simulate_link`), post-processes them with
:func:`qlight.qkd.postprocess.pipeline.run_pipeline` (sifting, parameter estimation,
Cascade, verification, Toeplitz privacy amplification; Alice and Bob as two parties over the
authenticated channel), cuts the final key into chunks of the KMEs' default key size and
assigns each chunk an owner KME alternately (so each direction gets half of the key).

Ordering keeps the pools consistent at every instant: in each store the chunks owned by the
*other* KME are written before the chunks owned by this KME, so when a KME sees one of its own
chunks the peer already holds it. Alice's final key goes to both stores here because both
KMEs run on this machine in the simulation; on a real link each KME is fed by its own side's
pipeline (the final keys are identical after verification, up to ε_cor).

A round that aborts (QBER too high, no secret key) stores nothing and the next round runs.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.kme.store import KmeStore
from qlight.qkd.link import BobDetectors, LinkChannel, LinkConfig, LinkSource, simulate_link
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.keystore import split_key
from qlight.qkd.postprocess.pipeline import PipelineSettings, run_pipeline
from qlight.qkd.theory.channel import DetectorModel, FibreChannel
from qlight.qkd.theory.presets import get_preset

__all__ = ["FeederSettings", "KeyFeeder", "default_link"]


@dataclass(frozen=True)
class FeederSettings:
    """One feeder round: link length, pulses, preset, source quality."""

    distance_km: float = 10.0
    pulses_per_round: int = 2_000_000
    preset: str = "modern"
    mu: float = 0.5
    g2: float = 0.05
    pause_s: float = 0.0


def default_link(settings: FeederSettings) -> LinkConfig:
    """A polarization BB84 link with the GaN single-photon source (``settings``' preset)."""
    p = get_preset(settings.preset)
    m = p.detector
    det = DetectorModel(m.efficiency, m.dark_yield, m.misalignment, 0.0, 0.0)
    src = LinkSource("sps", (settings.mu,), (1.0,), settings.g2)
    channel = LinkChannel.from_theory(FibreChannel(settings.distance_km, p.loss_db_per_km))
    return LinkConfig(src, channel, BobDetectors(det), basis_prob_z=0.5)


class KeyFeeder:
    """Feeds two KME stores from the simulated link (see the module docstring).

    Parameters
    ----------
    store_a, store_b : KmeStore
        The two KMEs' stores (same ``chunk_bytes``).
    kme_a, kme_b : str
        Their KME IDs (chunk owners).
    rng : numpy.random.Generator
        Link simulation and protocol randomness.
    settings : FeederSettings, optional
    on_round : callable, optional
        Called after each round with the number of chunks stored (0 after an abort).
    """

    def __init__(
        self,
        store_a: KmeStore,
        store_b: KmeStore,
        kme_a: str,
        kme_b: str,
        rng: np.random.Generator,
        settings: FeederSettings | None = None,
        on_round: Callable[[int], None] | None = None,
    ) -> None:
        if store_a.chunk_bytes != store_b.chunk_bytes:
            raise ParameterError("store_b", store_b.chunk_bytes, "must use store_a's chunk size")
        self._stores = (store_a, store_b)
        self._owners = (kme_a, kme_b)
        self._rng = rng
        self.settings = FeederSettings() if settings is None else settings
        self._link = default_link(self.settings)
        self._on_round = on_round
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next_owner = 0
        self.rounds = 0
        self.chunks_stored = 0

    def store_key(self, final_key_bits: NDArray[np.uint8]) -> int:
        """Cut one final key into chunks and put them into both pools; return how many."""
        chunks = split_key(final_key_bits, 8 * self._stores[0].chunk_bytes)
        owned: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]] = ([], [])
        for c in chunks:
            owned[self._next_owner].append((str(uuid.uuid4()), c))
            self._next_owner ^= 1
        a_id, b_id = self._owners
        with self._write_lock:
            if self._stop.is_set():  # stopped: the stores may be closed already
                return 0
            return self._put(owned, a_id, b_id, len(chunks))

    def _put(
        self, owned: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]], a_id: str,
        b_id: str, n: int,
    ) -> int:  # fmt: skip
        store_a, store_b = self._stores
        try:
            if owned[1]:
                store_a.put_chunks(owned[1], b_id)
            if owned[0]:
                store_b.put_chunks(owned[0], a_id)
            if owned[0]:
                store_a.put_chunks(owned[0], a_id)
            if owned[1]:
                store_b.put_chunks(owned[1], b_id)
        except ParameterError:  # a pool is full: drop this round's key
            return 0
        return n

    def run_round(self) -> int:
        """One round: simulate, post-process, store; return the number of chunks stored."""
        st = self.settings
        rec = simulate_link(self._link, st.pulses_per_round, self._rng)
        try:
            result = run_pipeline(
                rec, p_multi=self._link.source.p_multi, settings=PipelineSettings(), rng=self._rng
            )
        except ProtocolAbort:
            n = 0
        else:
            n = self.store_key(result.final_key)
        self.rounds += 1
        self.chunks_stored += n
        if self._on_round is not None:
            self._on_round(n)
        return n

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_round()
            if self.settings.pause_s > 0:
                self._stop.wait(self.settings.pause_s)

    def start(self) -> None:
        """Run rounds in a background thread until :meth:`stop`."""
        if self._thread is not None:
            raise ParameterError("feeder", "running", "is already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="kme-feeder", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop: no store is written after this returns (the stores may then be closed).

        Waits up to ``timeout_s`` for the round in progress to end; a round still computing
        after that finishes in the background (a daemon thread) and stores nothing.
        """
        self._stop.set()
        with self._write_lock:
            pass  # a write in progress has finished; later ones see the flag
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
