# One job per batch of frames, not per frame: why, in common.smk above frame_batches().
for dataset, index, frames in frame_batches():

    rule:
        """Read and validate a batch of raw frames; write each as float32 with its error map and bad-pixel mask."""
        name:
            batch_rule_name("ingest_frames", dataset, index)
        input:
            raw=[str(DATASETS[dataset].frames[frame]) for frame in frames],
        output:
            frames=expand(
                "results/{dataset}/ingest/{frame}.fits", dataset=dataset, frame=frames
            ),
        log:
            f"logs/{dataset}/ingest_frames/batch_{index:04d}.log",
        benchmark:
            f"benchmarks/{dataset}/ingest_frames/batch_{index:04d}.tsv"
        conda:
            "../../envs/stackphot.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(12, dataset),
            runtime=runtime(1, dataset, len(frames)),
        params:
            gain=setting("ingest/gain", dataset),
            read_noise=setting("ingest/read_noise", dataset),
            saturation=setting("ingest/saturation", dataset),
            offset=setting("ingest/offset", dataset),
        script:
            "../../scripts/ingest_frames.py"


rule tabulate_frames:
    """One row per frame: file, shape, exposure, date, noise model; checks that all frames match."""
    input:
        frames=per_frame("results/{dataset}/ingest/{frame}.fits"),
        masters=lambda wildcards: zero_level_masters(wildcards.dataset),
    output:
        table="results/{dataset}/frames.csv",
    log:
        "logs/{dataset}/tabulate_frames.log",
    benchmark:
        "benchmarks/{dataset}/tabulate_frames.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(4),
        runtime=runtime(0.2, n_frames="all"),
    params:
        raw=raw_frame_paths,
        calibration=lambda wildcards: lights_calibration(wildcards.dataset),
        group=lambda wildcards: group_name(wildcards.dataset),
    script:
        "../../scripts/tabulate_frames.py"


rule ingest:
    """Stage target (`snakemake ingest`): every dataset's ingested frames and its frames.csv."""
    input:
        stage_products("ingest"),
