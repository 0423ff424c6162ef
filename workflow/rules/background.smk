# One job per batch of frames, not per frame: why, in common.smk above frame_batches().
for dataset, index, frames in frame_batches():

    rule:
        """Estimate the sky of a batch of frames; write each subtracted frame, its sky map and RMS map."""
        name:
            batch_rule_name("subtract_backgrounds", dataset, index)
        input:
            # A colour dataset's luminance, then its colour planes (colour.smk); the defect map applies to all.
            frames=expand(
                FRAME_INPUTS["background"](dataset), dataset=dataset, frame=frames
            )
            + colour_files(
                "results/{dataset}/channels/{frame}.{plane}.fits", dataset, frames
            ),
            # The dataset's defect map (defects.smk), whose pixels each subtracted frame's MASK flags DEFECT.
            defects=(
                [f"results/{dataset}/defects.fits"]
                if setting("background/defects", dataset)
                else []
            ),
        output:
            frames=variant_files(
                "results/{dataset}/background/{frame}{variant}.sub.fits",
                dataset,
                frames,
            ),
            skies=variant_files(
                "results/{dataset}/background/{frame}{variant}.sky.fits",
                dataset,
                frames,
            ),
        log:
            f"logs/{dataset}/subtract_backgrounds/batch_{index:04d}.log",
        benchmark:
            f"benchmarks/{dataset}/subtract_backgrounds/batch_{index:04d}.tsv"
        conda:
            "../../envs/stackphot.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(35, dataset),
            runtime=runtime(4, dataset, len(frames) * len(frame_variants(dataset))),
        params:
            method=setting("background/method", dataset),
            box_size=setting("background/box_size", dataset),
            filter_size=setting("background/filter_size", dataset),
            sigma=setting("background/sigma", dataset),
            destripe=setting("background/destripe", dataset),
        script:
            "../../scripts/subtract_backgrounds.py"


rule background:
    """Stage target (`snakemake background`): every dataset's background-subtracted frames and sky maps."""
    input:
        stage_products("background"),
