rule detect_sources:
    """Find the sources of the stack in one or more passes, merge them, refine their centroids."""
    input:
        image="results/{dataset}/stack.fits",
    output:
        csv="results/{dataset}/catalog.csv",
        ecsv="results/{dataset}/catalog.ecsv",
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
        detect=setting("detect"),
    script:
        "../../scripts/detect_sources.py"


use rule detect_sources as detect_frame_sources with:
    input:
        image="results/{dataset}/background/{frame}.sub.fits",
    output:
        csv="results/{dataset}/frames/{frame}.catalog.csv",
        ecsv="results/{dataset}/frames/{frame}.catalog.ecsv",
    log:
        "logs/{dataset}/detect_frame_sources/{frame}.log",
    benchmark:
        "benchmarks/{dataset}/detect_frame_sources/{frame}.tsv"
