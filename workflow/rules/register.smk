rule prepare_reference:
    """Reduce the reference frame to the light of its sources, the image every frame is correlated with, and list its stars."""
    input:
        frame=reference_frame("results/{dataset}/background/{frame}.sub.fits"),
    output:
        prepared="results/{dataset}/register/reference.fits",
        stars="results/{dataset}/register/reference_stars.csv",
    log:
        "logs/{dataset}/prepare_reference.log",
    benchmark:
        "benchmarks/{dataset}/prepare_reference.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(20),
        runtime=runtime(2),
    params:
        smooth_sigma=setting("register/smooth_sigma"),
        threshold=setting("register/threshold"),
        crop=setting("register/crop"),
    script:
        "../../scripts/prepare_reference.py"


# One job per batch of frames, not per frame: why, in common.smk above frame_batches().
for dataset, index, frames in frame_batches():

    rule:
        """Register a batch of frames by cross-correlation and matched stars: each one's transform and quality figures."""
        name:
            batch_rule_name("measure_shifts", dataset, index)
        input:
            frames=expand(
                "results/{dataset}/background/{frame}.sub.fits",
                dataset=dataset,
                frame=frames,
            ),
            reference=f"results/{dataset}/register/reference.fits",
            reference_stars=f"results/{dataset}/register/reference_stars.csv",
        output:
            shifts=f"results/{dataset}/register/batch_{index:04d}.csv",
        log:
            f"logs/{dataset}/measure_shifts/batch_{index:04d}.log",
        benchmark:
            f"benchmarks/{dataset}/measure_shifts/batch_{index:04d}.tsv"
        conda:
            "../../envs/stackphot.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(30, dataset),
            runtime=runtime(2, dataset, len(frames)),
        params:
            smooth_sigma=setting("register/smooth_sigma", dataset),
            threshold=setting("register/threshold", dataset),
            crop=setting("register/crop", dataset),
            upsample_factor=setting("register/upsample_factor", dataset),
            model=setting("register/model", dataset),
            scale_range=setting("register/scale_range", dataset),
            match_tolerance=setting("register/match_tolerance", dataset),
            max_xcorr_residual=setting("register/max_xcorr_residual", dataset),
            max_wcs_offset=setting("register/max_wcs_offset", dataset),
            min_matched_stars=setting("quality/min_matched_stars", dataset),
        script:
            "../../scripts/measure_shifts.py"


rule select_frames:
    """All frames' shifts in one table (frame, dy, dx: the shift to apply, and quality columns); every frame judged
    against the quality limits: frames.csv-like table with accepted and reason, and the rejected ones (a copy of
    another frame's file among them, found by frames.csv's SHA-256). One job: the two are a table each, and a job's
    start costs more than either."""
    input:
        shifts=per_batch("results/{dataset}/register/batch_{index:04d}.csv"),
        frames="results/{dataset}/frames.csv",
    output:
        table="results/{dataset}/shifts.csv",
        selection="results/{dataset}/frame_selection.csv",
        rejected="results/{dataset}/rejected.csv",
    log:
        "logs/{dataset}/select_frames.log",
    benchmark:
        "benchmarks/{dataset}/select_frames.tsv"
    localrule: True
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(0),
        runtime=runtime(0),
    params:
        quality=setting_keys(
            "quality",
            "min_correlation",
            "min_overlap",
            "min_matched_stars",
            "min_stars",
            "max_fwhm",
            "on_bad_frame",
            "min_frames",
        ),
        reference=reference_frame("{frame}"),
    script:
        "../../scripts/select_frames.py"


rule assess_registration:
    """For a simulated dataset: measured shifts against the true ones."""
    input:
        shifts="results/{dataset}/shifts.csv",
        truth="data/{dataset}/truth_shifts.csv",
    output:
        table="results/{dataset}/registration_accuracy.csv",
    log:
        "logs/{dataset}/assess_registration.log",
    benchmark:
        "benchmarks/{dataset}/assess_registration.tsv"
    localrule: True
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(0),
        runtime=runtime(0),
    script:
        "../../scripts/assess_registration.py"


rule register:
    """Stage target (`snakemake register`): every dataset's shifts, frame selection and rejected frames."""
    input:
        stage_products("register"),
