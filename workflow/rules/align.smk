# One job per batch of frames, not per frame: why, in common.smk above frame_batches().
for dataset, index, frames in frame_batches():

    rule:
        """Shift a batch of background-subtracted frames onto the reference; uncovered pixels become NaN."""
        name:
            batch_rule_name("align_frames", dataset, index)
        input:
            # A colour dataset's colour planes too, each by its luminance's transform (colour.smk).
            frames=variant_files(
                "results/{dataset}/background/{frame}{variant}.sub.fits",
                dataset,
                frames,
            ),
            shifts=f"results/{dataset}/register/batch_{index:04d}.csv",
        output:
            frames=variant_files(
                "results/{dataset}/aligned/{frame}{variant}.fits", dataset, frames
            ),
        log:
            f"logs/{dataset}/align_frames/batch_{index:04d}.log",
        benchmark:
            f"benchmarks/{dataset}/align_frames/batch_{index:04d}.tsv"
        conda:
            "../../envs/stackphot.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(20, dataset),
            runtime=runtime(1.5, dataset, len(frames) * len(frame_variants(dataset))),
        params:
            order=setting("align/order", dataset),
            frames=frames * len(frame_variants(dataset)),
        script:
            "../../scripts/align_frames.py"


rule build_cube:
    """Stream the accepted aligned frames into one cube (data and error planes) with a coverage count."""
    input:
        frames=per_frame("results/{dataset}/aligned/{frame}.fits"),
        selection="results/{dataset}/frame_selection.csv",
    output:
        cube="results/{dataset}/aligned_cube.fits",
    log:
        "logs/{dataset}/build_cube.log",
    benchmark:
        "benchmarks/{dataset}/build_cube.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(8),
        runtime=runtime(0.5, n_frames="all"),
    script:
        "../../scripts/build_cube.py"


rule build_channel_cube:
    """Stream one colour of the accepted aligned frames into a cube, as the luminance's (a frame's two greens averaged)."""
    input:
        frames=per_frame_plane("results/{dataset}/aligned/{frame}.{plane}.fits"),
        selection="results/{dataset}/frame_selection.csv",
    output:
        cube="results/{dataset}/channels/aligned_cube.{plane}.fits",
    log:
        "logs/{dataset}/build_channel_cube/{plane}.log",
    benchmark:
        "benchmarks/{dataset}/build_channel_cube/{plane}.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(8),
        runtime=runtime(0.5, n_frames="all"),
    params:
        planes_per_frame=planes_per_frame,
    script:
        "../../scripts/build_cube.py"


rule align:
    """Stage target (`snakemake align`): every dataset's aligned frames and aligned cube."""
    input:
        stage_products("align"),
