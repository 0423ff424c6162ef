# Colour (Bayer) mosaics, after calibration (which works on the mosaic): each frame split into superpixel
# planes L, R, G1, G2, B without interpolation (stackphot.colour). The luminance L takes the monochrome path
# (background, registration, alignment, stack, catalog, photometry); the others (SPLIT_PLANES) share its
# registration: each is background-subtracted and aligned by the luminance's transform in the same batch jobs
# (frame_variants), then each colour (COLOUR_PLANES: both greens are G) cubed, stacked and measured at the
# catalog's sources by the rules of those stages.


# One job per batch of frames, not per frame: why, in common.smk above frame_batches().
for dataset, index, frames in frame_batches():
    if not DATASETS[dataset].colour:
        continue

    rule:
        """Split a batch of colour mosaics into superpixel planes L, R, G1, G2, B: no interpolation, each plane's place on the grid in its header."""
        name:
            batch_rule_name("split_channels", dataset, index)
        input:
            # The mosaics as calibrated, or as ingested where the night has no calibration frames.
            frames=expand(background_input(dataset), dataset=dataset, frame=frames),
        output:
            planes=expand(
                "results/{dataset}/channels/{frame}.{plane}.fits",
                dataset=dataset,
                frame=frames,
                plane=("L",) + SPLIT_PLANES,
            ),
        log:
            f"logs/{dataset}/split_channels/batch_{index:04d}.log",
        benchmark:
            f"benchmarks/{dataset}/split_channels/batch_{index:04d}.tsv"
        conda:
            "../../envs/stackphot.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(12, dataset),
            runtime=runtime(0.5, dataset, len(frames)),
        params:
            bayer_pattern=setting("ingest/bayer_pattern", dataset),
        script:
            "../../scripts/split_channels.py"


# Every later stage starts from the luminance where the frames are colour mosaics.
FRAME_INPUTS["background"] = luminance_input


rule colour:
    """Stage target (`snakemake colour`): every colour dataset's split planes, colour stacks and colour photometry."""
    input:
        stage_products("colour"),
