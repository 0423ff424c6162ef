"""FITS and tables in and out: finding frames, reading them with validation, writing products atomically.

``files``: frame names, FrameError, atomic writes (DiskFullError: a full disk named), logs; ``raw``: a camera's
frames (tile-compressed too) and their bad-pixel masks; ``cards``: header cards; ``fits_write`` and
``fits_read``: the products; ``tables``: CSV and ECSV. Every name is importable from ``stackphot.io`` itself.
"""

from stackphot.io.cards import STRUCTURAL_KEYS, add_cards, ascii_text, celestial_wcs, clean_card_text, image_header, valid_header
from stackphot.io.files import FITS_SUFFIXES, DiskFullError, FrameError, atomic_write, frame_stem, log_to, write_text
from stackphot.io.fits_read import CubeRows, read_arrays, read_image
from stackphot.io.fits_write import BITPIX, BLOCK, END_CARD, FITS_DTYPES, write_cube, write_image, write_product
from stackphot.io.raw import (BAD_PIXEL_EXTENSIONS, BadPixels, RawFrame, inherited_header, is_bad_pixel_mask,
                              read_raw_frame)
from stackphot.io.tables import read_ecsv, read_table, write_ecsv, write_table

__all__ = ["BAD_PIXEL_EXTENSIONS", "BITPIX", "BLOCK", "END_CARD", "FITS_DTYPES", "FITS_SUFFIXES", "STRUCTURAL_KEYS",
           "BadPixels", "CubeRows", "DiskFullError", "FrameError", "RawFrame", "add_cards", "atomic_write", "celestial_wcs",
           "ascii_text", "clean_card_text", "frame_stem", "image_header", "inherited_header", "is_bad_pixel_mask", "log_to",
           "read_arrays", "read_ecsv", "read_image", "read_raw_frame", "read_table", "valid_header", "write_cube", "write_ecsv",
           "write_image", "write_product", "write_table", "write_text"]
