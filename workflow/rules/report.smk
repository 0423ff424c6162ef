"""Products for people: the report's figures and table, and DS9 region files of sources and apertures."""


rule plot_stack:
    """The stack (zscale/asinh stretch) with the photometry apertures over it and one star close up; its catalog:
    magnitudes and completeness, sizes, the segmentation map; and DS9 region files of the catalog's sources (a
    circle per source, labelled with its id) and of the apertures and sky annuli, flagged sources in red. One job:
    all read the catalog and its photometry, and a job's start costs more than the regions.
    """
    input:
        image="results/{dataset}/stack.fits",
        photometry="results/{dataset}/photometry.csv",
        catalog="results/{dataset}/catalog.csv",
        segments="results/{dataset}/segmentation.fits",
    output:
        plot=report(
            "results/{dataset}/plots/stack.png",
            caption="../report/stack.rst",
            category="Stack",
            labels={"dataset": "{dataset}", "figure": "stack with apertures"},
        ),
        catalog_plot=report(
            "results/{dataset}/plots/catalog.png",
            caption="../report/catalog.rst",
            category="Stack",
            labels={"dataset": "{dataset}", "figure": "catalog"},
        ),
        catalog_regions="results/{dataset}/catalog.reg",
        aperture_regions="results/{dataset}/apertures.reg",
    log:
        "logs/{dataset}/plot_stack.log",
    benchmark:
        "benchmarks/{dataset}/plot_stack.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(30),
        runtime=runtime(3),
    params:
        photometry=setting_keys("photometry", "radii", "annulus", "zero_point"),
    script:
        "../../scripts/plot_stack.py"


rule plot_frames:
    """The frames at a glance: each frame's transform onto the reference, how it was measured and the rejected
    frames, against time; the sky model and RMS map of the reference frame and a few others; and a table of one
    row per frame (time, exposure, sky level and noise, shift, correlation, overlap, accepted or why not). One job:
    a job's start costs more than any of the three.
    """
    input:
        selection="results/{dataset}/frame_selection.csv",
        frames="results/{dataset}/frames.csv",
        skies=per_frame("results/{dataset}/background/{frame}.sky.fits"),
    output:
        registration=report(
            "results/{dataset}/plots/registration.png",
            caption="../report/registration.rst",
            category="Registration",
            labels={"dataset": "{dataset}", "figure": "registration per frame"},
        ),
        background=report(
            "results/{dataset}/plots/background.png",
            caption="../report/background.rst",
            category="Background",
            labels={"dataset": "{dataset}", "figure": "background maps"},
        ),
        table="results/{dataset}/frame_quality.csv",
        html=report(
            "results/{dataset}/plots/frame_quality.html",
            caption="../report/frame_quality.rst",
            category="Frames",
            labels={"dataset": "{dataset}", "figure": "frame quality table"},
        ),
    log:
        "logs/{dataset}/plot_frames.log",
    benchmark:
        "benchmarks/{dataset}/plot_frames.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        # 590 MB measured at 2048 x 2048 (make bench): matplotlib's images of the sky maps besides the frames.
        mem_mb=mem_mb(30),
        # Every frame's sky statistics, and three frames' maps drawn.
        runtime=runtime(0.5, n_frames="all"),
    params:
        reference=reference_frame("{frame}"),
        frames_shown=3,
    script:
        "../../scripts/plot_frames.py"


rule plot_calibration:
    """The night's masters with their statistics and histograms, and how each light was calibrated."""
    input:
        masters=per_dataset(master_files),
        record="results/{dataset}/calibration.csv",
    output:
        plot=report(
            "results/{dataset}/plots/calibration.png",
            caption="../report/calibration.rst",
            category="Calibration",
            labels={"dataset": "{dataset}", "figure": "calibration masters"},
        ),
    log:
        "logs/{dataset}/plot_calibration.log",
    benchmark:
        "benchmarks/{dataset}/plot_calibration.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(30),
        runtime=runtime(3, n_frames=6),
    params:
        hot_nsigma=setting("calibrate/hot_nsigma"),
        min_flat=setting("calibrate/min_flat"),
    script:
        "../../scripts/plot_calibration.py"


rule plot_colour:
    """The colour stack as a picture a person would show, with a bright star's core close up in each colour."""
    input:
        stack="results/{dataset}/stack_rgb.fits",
        catalog="results/{dataset}/catalog.csv",
    output:
        plot=report(
            "results/{dataset}/plots/colour.png",
            caption="../report/colour.rst",
            category="Stack",
            labels={"dataset": "{dataset}", "figure": "colour stack"},
        ),
    log:
        "logs/{dataset}/plot_colour.log",
    benchmark:
        "benchmarks/{dataset}/plot_colour.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(20),
        runtime=runtime(1),
    script:
        "../../scripts/plot_colour.py"


rule report:
    """Stage target (`snakemake report`): every dataset's region files, quality table and figures."""
    input:
        stage_products("report"),
