rule subtract_background:
    """Estimate the sky of one frame; write the subtracted frame, the sky map and its RMS map."""
    input:
        frame="results/{dataset}/ingest/{frame}.fits",
    output:
        frame="results/{dataset}/background/{frame}.sub.fits",
        sky="results/{dataset}/background/{frame}.sky.fits",
    log:
        "logs/{dataset}/subtract_background/{frame}.log",
    benchmark:
        "benchmarks/{dataset}/subtract_background/{frame}.tsv"
    conda:
        "../../envs/stackphot.yaml"
    params:
        method=lookup(dpath="background/method", within=config),
        box_size=lookup(dpath="background/box_size", within=config),
        filter_size=lookup(dpath="background/filter_size", within=config),
        sigma=lookup(dpath="background/sigma", within=config),
        destripe=lookup(dpath="background/destripe", within=config),
    script:
        "../../scripts/subtract_background.py"
