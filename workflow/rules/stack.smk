rule stack_frames:
    """Combine the aligned cube in memory-bounded blocks into the stacked FITS with its provenance."""
    input:
        cube="results/{dataset}/aligned_cube.fits",
        shifts="results/{dataset}/shifts.csv",
        frames="results/{dataset}/frames.csv",
        selection="results/{dataset}/frame_selection.csv",
        reference=stack_reference,
        # Weights by noise read each frame's sky RMS.
        skies=noise_weight_skies("results/{dataset}/background/{frame}.sky.fits"),
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


use rule stack_frames as stack_channel with:
    """Combine one colour plane's aligned cube as the luminance's: same method, weights and provenance."""
    input:
        cube="results/{dataset}/channels/aligned_cube.{plane}.fits",
        shifts="results/{dataset}/shifts.csv",
        frames="results/{dataset}/frames.csv",
        selection="results/{dataset}/frame_selection.csv",
        # The reference's plane once aligned: on the luminance's grid, with its WCS.
        reference=reference_frame_plane(
            "results/{dataset}/aligned/{frame}.{plane}.fits"
        ),
        skies=noise_weight_skies(
            "results/{dataset}/background/{frame}.{plane}.sky.fits"
        ),
    output:
        stack="results/{dataset}/channels/stack.{plane}.fits",
    log:
        "logs/{dataset}/stack_channel/{plane}.log",
    benchmark:
        "benchmarks/{dataset}/stack_channel/{plane}.tsv"


rule combine_colour:
    """The three colour stacks as one colour stack (planes R, G, B with ERR and COVERAGE), and how well the colours of the catalog's stars lie on one another."""
    input:
        stacks=expand(
            "results/{{dataset}}/channels/stack.{plane}.fits", plane=COLOUR_PLANES
        ),
        catalog="results/{dataset}/catalog.csv",
    output:
        stack="results/{dataset}/stack_rgb.fits",
        offsets="results/{dataset}/colour_alignment.csv",
    log:
        "logs/{dataset}/combine_colour.log",
    benchmark:
        "benchmarks/{dataset}/combine_colour.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(12),
        runtime=runtime(1),
    script:
        "../../scripts/combine_colour.py"


rule stack:
    """Stage target (`snakemake stack`): every dataset's stack.fits."""
    input:
        stage_products("stack"),
