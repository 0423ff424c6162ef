"""The report a person reads: figures of the stack, the registration and the sky maps, and the table of frames.

``display``: the canvas and the display stretch the figures share; ``stack_plot``, ``registration_plot``,
``background_plot``: one figure each; ``frame_table``: the per-frame table (CSV and HTML). Each
``*_figure`` returns a bare matplotlib ``Figure`` on the Agg canvas (no pyplot, no display, the caller's
backend and state untouched), for a notebook or a test; ``display.save_figure`` writes it as a PNG,
atomically. The numbers behind the pictures (display stretch, which star to show close up, which frames to
show) are separate functions with tests of their own.
"""
