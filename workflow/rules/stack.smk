rule stack_frames:
    """Combine the aligned cube in memory-bounded blocks into the stacked FITS with its provenance."""
    input:
        cube="results/{dataset}/aligned_cube.fits",
        shifts="results/{dataset}/shifts.csv",
        frames="results/{dataset}/frames.csv",
        selection="results/{dataset}/frame_selection.csv",
        reference=reference_frame("results/{dataset}/ingest/{frame}.fits"),
        # Weights by noise read each frame's sky RMS.
        skies=lambda wildcards: (
            per_frame("results/{dataset}/background/{frame}.sky.fits")(wildcards)
            if setting("stack/weights", wildcards.dataset) == "noise"
            else []
        ),
    output:
        stack="results/{dataset}/stack.fits",
    log:
        "logs/{dataset}/stack_frames.log",
    benchmark:
        "benchmarks/{dataset}/stack_frames.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 2
    resources:
        # The run setting of the stack's memory: params memory_mb follows it (stack_memory_budget, common.smk).
        mem_mb=STACK_MEM_MB,
        runtime=runtime(1.5, n_frames="all"),
    params:
        method=setting("stack/method"),
        sigma=setting("stack/sigma"),
        maxiters=setting("stack/maxiters"),
        weights=setting("stack/weights"),
        memory_mb=stack_memory_budget,
    script:
        "../../scripts/stack_frames.py"


rule stack:
    """Stage target (`snakemake stack`): every dataset's stack.fits."""
    input:
        stage_products("stack"),
