rule measure_photometry:
    """Aperture photometry of the catalog on the stack: several radii, local annulus background, errors, flags."""
    input:
        image="results/{dataset}/stack.fits",
        catalog="results/{dataset}/catalog.csv",
    output:
        csv="results/{dataset}/photometry.csv",
        ecsv="results/{dataset}/photometry.ecsv",
    log:
        "logs/{dataset}/measure_photometry.log",
    benchmark:
        "benchmarks/{dataset}/measure_photometry.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(50),
        runtime=runtime(6),
    params:
        photometry=setting_keys(
            "photometry",
            "radii",
            "annulus",
            "background",
            "background_box",
            "neighbour_radius",
            "zero_point",
            "mask_sources",
            "min_sky_fraction",
        ),
    script:
        "../../scripts/measure_photometry.py"


use rule measure_photometry as measure_frame_photometry with:
    """Aperture photometry of a single frame (`detect: frames`) with its own catalog, as on the stack."""
    input:
        image="results/{dataset}/background/{frame}.sub.fits",
        catalog="results/{dataset}/frames/{frame}.catalog.csv",
    output:
        csv="results/{dataset}/frames/{frame}.photometry.csv",
        ecsv="results/{dataset}/frames/{frame}.photometry.ecsv",
    log:
        "logs/{dataset}/measure_frame_photometry/{frame}.log",
    benchmark:
        "benchmarks/{dataset}/measure_frame_photometry/{frame}.tsv"


rule measure_curve_of_growth:
    """Curve of growth of the brightest isolated stars: 50%-energy radius and aperture correction, with a plot."""
    input:
        image="results/{dataset}/stack.fits",
        photometry="results/{dataset}/photometry.csv",
    output:
        table="results/{dataset}/curve_of_growth.csv",
        plot=report(
            "results/{dataset}/curve_of_growth.png",
            caption="../report/curve_of_growth.rst",
            category="Photometry",
            labels={"dataset": "{dataset}", "figure": "curve of growth"},
        ),
    log:
        "logs/{dataset}/measure_curve_of_growth.log",
    benchmark:
        "benchmarks/{dataset}/measure_curve_of_growth.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(10),
        runtime=runtime(2),
    params:
        photometry=setting_keys("photometry", "radii", "annulus", "growth_stars"),
    script:
        "../../scripts/measure_curve_of_growth.py"


rule measure_sky_targets:
    """Photometry of the configured sky targets through the stack's WCS (sky apertures and annuli)."""
    input:
        image="results/{dataset}/stack.fits",
    output:
        csv="results/{dataset}/sky_photometry.csv",
        ecsv="results/{dataset}/sky_photometry.ecsv",
    log:
        "logs/{dataset}/measure_sky_targets.log",
    benchmark:
        "benchmarks/{dataset}/measure_sky_targets.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(50),
        runtime=runtime(6),
    params:
        photometry=setting_keys("photometry", "sky", "mask_sources", "min_sky_fraction"),
    script:
        "../../scripts/measure_sky_targets.py"


use rule measure_photometry as measure_channel_photometry with:
    """Aperture photometry of the luminance's catalog on one colour plane's stack, as on the luminance."""
    input:
        image="results/{dataset}/channels/stack.{plane}.fits",
        catalog="results/{dataset}/catalog.csv",
    output:
        csv="results/{dataset}/channels/photometry.{plane}.csv",
        ecsv="results/{dataset}/channels/photometry.{plane}.ecsv",
    log:
        "logs/{dataset}/measure_channel_photometry/{plane}.log",
    benchmark:
        "benchmarks/{dataset}/measure_channel_photometry/{plane}.tsv"


rule photometry:
    """Stage target (`snakemake photometry`): every dataset's photometry, curve of growth and sky targets."""
    input:
        stage_products("photometry"),
