rule ingest_frame:
    """Read and validate one raw frame; write it as float32 with its error map and bad-pixel mask."""
    input:
        raw=raw_frame,
    output:
        frame="results/{dataset}/ingest/{frame}.fits",
    log:
        "logs/{dataset}/ingest_frame/{frame}.log",
    benchmark:
        "benchmarks/{dataset}/ingest_frame/{frame}.tsv"
    conda:
        "../../envs/stackphot.yaml"
    params:
        gain=lookup(dpath="ingest/gain", within=config),
        read_noise=lookup(dpath="ingest/read_noise", within=config),
        saturation=lookup(dpath="ingest/saturation", within=config),
    script:
        "../../scripts/ingest_frame.py"


rule tabulate_frames:
    """One row per frame: file, shape, exposure, date, noise model; checks that all frames match."""
    input:
        frames=per_frame("results/{dataset}/ingest/{frame}.fits"),
    output:
        table="results/{dataset}/frames.csv",
    log:
        "logs/{dataset}/tabulate_frames.log",
    benchmark:
        "benchmarks/{dataset}/tabulate_frames.tsv"
    conda:
        "../../envs/stackphot.yaml"
    script:
        "../../scripts/tabulate_frames.py"
