"""Generate the committed bullseye design table ``src/qlight/photonics/data/bullseye_table.json``.

One chip has one membrane and one spacer: the vertical stack of the anchor design is kept
and only the lateral geometry is rescaled with the wavelength so that the second-order
Bragg condition n_eff(λ)(Λ − w) + w = const·λ holds with the trench fraction w/Λ and the
ratio R₀/Λ fixed (n_eff: TE₀ index of the free membrane from the exact planar solver).
Each entry is then evaluated with the axisymmetric FDFD solver (in-plane dipole on the
axis, mid-membrane) at ``--resolution-nm``.

Anchor: ``--anchor JSON``, a ``bench_bullseye.py`` result (its ``geometry``); by default
the committed ``benchmarks/results/bullseye_650nm.json``.

Run: ``python scripts/make_bullseye_table.py [--anchor FILE] [--resolution-nm 7.5]``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from qlight.photonics.design import BullseyeDesign, _te0_index, evaluate_design
from qlight.photonics.design_table import BullseyeTable, TableEntry

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "qlight" / "photonics" / "data" / "bullseye_table.json"

#: The optimised design written by ``benchmarks/bench_bullseye.py`` (the default anchor).
RESULT = ROOT / "benchmarks" / "results" / "bullseye_650nm.json"


def rescaled(anchor: BullseyeDesign, wavelength_nm: float) -> BullseyeDesign:
    """The anchor's lateral geometry rescaled to ``wavelength_nm`` (module docstring)."""
    f = anchor.trench_nm / anchor.period_nm
    n0 = _te0_index(anchor.membrane, anchor.membrane_nm, "air", anchor.wavelength_nm)
    n1 = _te0_index(anchor.membrane, anchor.membrane_nm, "air", wavelength_nm)
    s = (wavelength_nm / anchor.wavelength_nm) * ((1 - f) * n0 + f) / ((1 - f) * n1 + f)
    return replace(
        anchor,
        wavelength_nm=wavelength_nm,
        period_nm=round(anchor.period_nm * s, 1),
        trench_nm=round(anchor.trench_nm * s, 1),
        disc_radius_nm=round(anchor.disc_radius_nm * s, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--anchor", type=Path, default=RESULT)
    parser.add_argument("--na", type=float, default=0.9)
    parser.add_argument("--resolution-nm", type=float, default=7.5)
    parser.add_argument(
        "--wavelengths-nm", type=float, nargs="+", default=[600.0 + 20 * k for k in range(7)]
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    anchor = BullseyeDesign(**json.loads(args.anchor.read_text())["geometry"])
    entries = []
    for lam in sorted(args.wavelengths_nm):
        d = rescaled(anchor, lam)
        t0 = time.perf_counter()
        em = evaluate_design(d, args.na, args.resolution_nm, ("h",))
        e = TableEntry(d, em.collection_efficiency("h"), em.purcell("h"))
        print(
            f"{lam:g} nm: period {d.period_nm:g}, R0 {d.disc_radius_nm:g}: "
            f"eta {e.collection_efficiency:.4f}, Purcell {e.purcell:.3f} "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        entries.append(e)
    source = (
        f"scripts/make_bullseye_table.py, anchor file {args.anchor}, "
        f"FDFD at {args.resolution_nm:g} nm, in-plane dipole"
    )
    table = BullseyeTable(args.na, args.resolution_nm, tuple(entries), source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table.to_dict(), indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
