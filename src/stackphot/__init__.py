"""stackphot: align, stack and measure series of CCD frames.

Plain functions, no Snakemake: every step of the workflow can be called from a notebook.
"""

__version__ = "0.1.0"
