"""Event-level BB84 link simulator: source, channel, Eve, Bob's detectors, raw records.

* :mod:`~qlight.qkd.link.source` — intensity classes and photon-number statistics;
* :mod:`~qlight.qkd.link.channel` — loss, background and per-basis misalignment;
* :mod:`~qlight.qkd.link.detectors` — Bob's detectors (dead time, afterpulsing, squashing);
* :mod:`~qlight.qkd.link.eve` — intercept-resend and photon-number splitting;
* :mod:`~qlight.qkd.link.simulate` — the numba Monte Carlo;
* :mod:`~qlight.qkd.link.records` — the raw data and its files;
* :mod:`~qlight.qkd.link.estimate` — gains, QBERs and key-rate estimates from a record.

See ``docs/qkd-link.md``.
"""

from qlight.qkd.link.channel import LinkChannel
from qlight.qkd.link.detectors import BobDetectors
from qlight.qkd.link.estimate import LinkStatistics, estimate_key_rates, link_statistics
from qlight.qkd.link.eve import Eve, parse_eve
from qlight.qkd.link.records import LinkRecord, load_record, save_record
from qlight.qkd.link.simulate import LinkConfig, simulate_link
from qlight.qkd.link.source import LinkSource

__all__ = [
    "BobDetectors",
    "Eve",
    "LinkChannel",
    "LinkConfig",
    "LinkRecord",
    "LinkSource",
    "LinkStatistics",
    "estimate_key_rates",
    "link_statistics",
    "load_record",
    "parse_eve",
    "save_record",
    "simulate_link",
]
