"""Stacking: the aligned cube combined into one image (``combine``), and the stack's header, which says how
it was made (``stack_header``)."""

from stackphot.stack.combine import METHODS, PIXEL_FRAMES, WEIGHTINGS, CombineResult, block_rows, combine, frame_weights
from stackphot.stack.header import stack_header

__all__ = ["METHODS", "PIXEL_FRAMES", "WEIGHTINGS", "CombineResult", "block_rows", "combine", "frame_weights",
           "stack_header"]
