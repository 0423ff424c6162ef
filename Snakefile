"""stackphot: from a folder of CCD frames to an aligned, stacked FITS image."""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/calibrate.smk"
include: "workflow/rules/colour.smk"
include: "workflow/rules/defects.smk"
include: "workflow/rules/background.smk"
include: "workflow/rules/register.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/stack.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/photometry.smk"
include: "workflow/rules/lightcurve.smk"
include: "workflow/rules/report.smk"


rule all:
    """Every product of every configured dataset."""
    default_target: True
    input:
        all_products(),
