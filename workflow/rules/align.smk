rule align_frame:
    """Shift one background-subtracted frame onto the reference; uncovered pixels become NaN."""
    input:
        frame="results/{dataset}/background/{frame}.sub.fits",
        shift="results/{dataset}/register/{frame}.csv",
    output:
        frame="results/{dataset}/aligned/{frame}.fits",
    log:
        "logs/{dataset}/align_frame/{frame}.log",
    benchmark:
        "benchmarks/{dataset}/align_frame/{frame}.tsv"
    conda:
        "../../envs/stackphot.yaml"
    params:
        order=lookup(dpath="align/order", within=config),
    script:
        "../../scripts/align_frame.py"


rule build_cube:
    """Stream the aligned frames into one cube (data and error planes) with a coverage count."""
    input:
        frames=per_frame("results/{dataset}/aligned/{frame}.fits"),
        shifts="results/{dataset}/shifts.csv",
    output:
        cube="results/{dataset}/aligned_cube.fits",
    log:
        "logs/{dataset}/build_cube.log",
    benchmark:
        "benchmarks/{dataset}/build_cube.tsv"
    conda:
        "../../envs/stackphot.yaml"
    script:
        "../../scripts/build_cube.py"
