rule detect_sources:
    """Find the sources of the stack in one or more passes, merge them, refine their centroids."""
    input:
        image="results/{dataset}/stack.fits",
    output:
        csv="results/{dataset}/catalog.csv",
        ecsv="results/{dataset}/catalog.ecsv",
        segments="results/{dataset}/segmentation.fits",
    log:
        "logs/{dataset}/detect_sources.log",
    benchmark:
        "benchmarks/{dataset}/detect_sources.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(60),
        runtime=runtime(15),
    params:
        # Not `frames`: which single frames are cataloged does not change a catalog.
        detect=setting_keys(
            "detect",
            "box_size",
            "passes",
            "match_radius",
            "clean",
            "residual_pass",
            "centroid",
            "centroid_box",
            "centroid_max_shift",
            "segmentation",
        ),
    script:
        "../../scripts/detect_sources.py"


use rule detect_sources as detect_frame_sources with:
    """Find the sources of a single background-subtracted frame (`detect: frames`), as on the stack."""
    input:
        image="results/{dataset}/background/{frame}.sub.fits",
    output:
        csv="results/{dataset}/frames/{frame}.catalog.csv",
        ecsv="results/{dataset}/frames/{frame}.catalog.ecsv",
        segments="results/{dataset}/frames/{frame}.segmentation.fits",
    log:
        "logs/{dataset}/detect_frame_sources/{frame}.log",
    benchmark:
        "benchmarks/{dataset}/detect_frame_sources/{frame}.tsv"


rule detect:
    """Stage target (`snakemake detect`): every dataset's catalogs, the stack's and its chosen frames'."""
    input:
        stage_products("detect"),
