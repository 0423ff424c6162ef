rule stack_frames:
    """Combine the aligned cube in memory-bounded blocks into the stacked FITS with its provenance."""
    input:
        cube="results/{dataset}/aligned_cube.fits",
        shifts="results/{dataset}/shifts.csv",
        frames="results/{dataset}/frames.csv",
        selection="results/{dataset}/frame_selection.csv",
        reference=reference_frame("results/{dataset}/ingest/{frame}.fits"),
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
        mem_mb=lambda wildcards: setting("stack/memory_mb", wildcards.dataset) + 400,
        runtime=runtime(1.5, n_frames="all"),
    params:
        method=setting("stack/method"),
        sigma=setting("stack/sigma"),
        maxiters=setting("stack/maxiters"),
        memory_mb=setting("stack/memory_mb"),
    script:
        "../../scripts/stack_frames.py"
