"""Colour (Bayer) sensors: a mosaic split into superpixel planes without interpolation (``mosaic``), how well
the colour planes' stars lie on one another (``check``), the colour stack (``stack``)."""

from stackphot.colour.check import channel_offsets, summarise_offsets
from stackphot.colour.mosaic import (CHANNELS, MOSAIC_CARDS, PATTERNS, PLANES, PatternError, bayer_pattern,
                                     cell_places, channel_offset, plane_colour, plane_offsets, split_mosaic,
                                     split_products)
from stackphot.colour.stack import colour_stack

__all__ = ["CHANNELS", "MOSAIC_CARDS", "PATTERNS", "PLANES", "PatternError", "bayer_pattern", "cell_places",
           "channel_offset", "channel_offsets", "colour_stack", "plane_colour", "plane_offsets", "split_mosaic", "split_products",
           "summarise_offsets"]
