"""The colour stack: the three colour planes' stacks as one image of planes R, G, B."""

from __future__ import annotations

import numpy as np

from stackphot.colour.mosaic import CHANNELS
from stackphot.provenance import Product

# Cards of one plane's stack that do not describe the three together.
PLANE_CARDS = ("CHANNEL", "CHANOFFX", "CHANOFFY", "GAIN", "RDNOISE")


def colour_stack(stacks: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], offsets: dict) -> Product:
    """Planes R, G, B (``stacks``: each plane's stack, error and coverage) as one product of three planes, with
    ERR and COVERAGE of three planes; ``offsets`` (``summarise_offsets``: each colour's median offset from G
    over the catalog's stars) go into the header, so that the stack says how well its colours lie on one
    another."""
    data, error, coverage = (np.stack([stacks[name][part] for name in CHANNELS]) for part in range(3))
    cards: dict[str, object] = {"PLANES": (",".join(CHANNELS), "colour of each plane along NAXIS3")}
    history = ["stackphot colour: planes R, G, B stacked each as the luminance, aligned by its transforms"]
    for name, entry in offsets.items():
        for axis in ("dx", "dy"):
            value = entry[axis]
            cards[f"COL{axis.upper()}_{name}"] = (None if not np.isfinite(value) else round(value, 4),
                                                 f"px, median {axis} of {name} from G ({entry['n']} stars)")
        history.append(f"{name} lies ({entry['dx']:+.4f}, {entry['dy']:+.4f}) px (x, y) from G: median over "
                       f"{entry['n']} stars, scatter ({entry['dx_scatter']:.4f}, {entry['dy_scatter']:.4f}) px")
    return Product(data, {"ERR": error, "COVERAGE": coverage}, cards, history, removed=PLANE_CARDS)
