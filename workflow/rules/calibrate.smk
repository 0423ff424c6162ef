# Datasets whose folder holds bias, dark or flat frames (src/stackphot/inventory/plan.py): their masters,
# then the calibrated lights, which the background starts from. A dataset without them is not touched.


# A ready master (plan.ready: given in the config or found in the folder) has no rule: it is used as it is.
for dataset, plan in calibrated_datasets().items():
    night = DATASETS[dataset].night_name
    if plan.bias and "master_bias" not in plan.ready:

        rule:
            """Combine the bias frames into the master bias, with its error map."""
            name:
                f"master_bias_{night}"
            input:
                raw=[str(info.path) for info in plan.bias],
            output:
                master=master_file(dataset, "master_bias"),
            log:
                f"logs/{night}/calibrate/master_bias.log",
            benchmark:
                f"benchmarks/{night}/calibrate/master_bias.tsv"
            conda:
                "../../envs/stackphot.yaml"
            threads: 1
            resources:
                mem_mb=1000 + math.ceil(16 * frame_megapixels(dataset)),
                runtime=runtime(1, dataset, len(plan.bias)),
            params:
                **master_params(dataset, "bias"),
            script:
                "../../scripts/make_master.py"

    for exptime, darks in plan.darks.items():
        if f"master_dark_{exposure_name(exptime)}" in plan.ready:
            continue

        rule:
            """Combine the dark frames of one exposure into its master dark, less the master bias if there is one."""
            name:
                f"master_dark_{night}_{exposure_name(exptime)}"
            input:
                raw=[str(info.path) for info in darks],
                bias=master_files(dataset, ("bias",)),
            output:
                master=master_file(dataset, f"master_dark_{exposure_name(exptime)}"),
            log:
                f"logs/{night}/calibrate/master_dark_{exposure_name(exptime)}.log",
            benchmark:
                f"benchmarks/{night}/calibrate/master_dark_{exposure_name(exptime)}.tsv"
            conda:
                "../../envs/stackphot.yaml"
            threads: 1
            resources:
                mem_mb=1000 + math.ceil(16 * frame_megapixels(dataset)),
                runtime=runtime(1, dataset, len(darks)),
            params:
                **master_params(dataset, "dark", exptime=exptime),
            script:
                "../../scripts/make_master.py"

    for flat, flats in plan.flats.items():
        if f"master_flat_{flat}" in plan.ready:
            continue

        rule:
            """Combine the flats of one filter and binning, each less its zero level and normalised, into its master flat."""
            name:
                f"master_flat_{night}_{flat}"
            input:
                raw=[str(info.path) for info in flats],
                bias=master_files(dataset, ("bias",)),
                darks=master_files(dataset, ("dark",)),
            output:
                master=master_file(dataset, f"master_flat_{flat}"),
            log:
                f"logs/{night}/calibrate/master_flat_{flat}.log",
            benchmark:
                f"benchmarks/{night}/calibrate/master_flat_{flat}.tsv"
            conda:
                "../../envs/stackphot.yaml"
            threads: 1
            resources:
                mem_mb=1000 + math.ceil(16 * frame_megapixels(dataset)),
                runtime=runtime(1, dataset, len(flats)),
            params:
                **master_params(
                    dataset,
                    "flat",
                    exptime=flats[0].exptime,
                    flat=flat,
                    warnings=calibration_warnings(dataset, flats),
                ),
            script:
                "../../scripts/make_master.py"


for dataset, index, frames in frame_batches():
    plan = DATASETS[dataset].calibration
    if plan is None:
        continue

    rule:
        """Calibrate a batch of ingested lights: less the zero level of their exposure, divided by their flat."""
        name:
            batch_rule_name("calibrate_frames", dataset, index)
        input:
            frames=expand(
                "results/{dataset}/ingest/{frame}.fits", dataset=dataset, frame=frames
            ),
            masters=master_files(dataset),
        output:
            frames=expand(
                "results/{dataset}/calibrate/{frame}.fits",
                dataset=dataset,
                frame=frames,
            ),
        log:
            f"logs/{dataset}/calibrate_frames/batch_{index:04d}.log",
        benchmark:
            f"benchmarks/{dataset}/calibrate_frames/batch_{index:04d}.tsv"
        conda:
            "../../envs/stackphot.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(12 + 2 * len(plan.master_names), dataset),
            runtime=runtime(1, dataset, len(frames)),
        params:
            lights={
                frame: {
                    "exptime": plan.lights[frame].exptime,
                    "flat": plan.flat_for(plan.lights[frame]),
                    "warnings": calibration_warnings(dataset, [plan.lights[frame]]),
                }
                for frame in frames
            },
            hot_nsigma=setting("calibrate/hot_nsigma", dataset),
            min_flat=setting("calibrate/min_flat", dataset),
        script:
            "../../scripts/calibrate_frames.py"


rule tabulate_calibration:
    """Every file of the dataset's folder: what it was taken for, and the master or the calibration it went into."""
    output:
        table="results/{dataset}/calibration.csv",
    log:
        "logs/{dataset}/tabulate_calibration.log",
    benchmark:
        "benchmarks/{dataset}/tabulate_calibration.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(2 * 4),
        runtime=10,
    params:
        plan=lambda wildcards: DATASETS[wildcards.dataset].calibration,
        max_temperature_difference=setting("calibrate/max_temperature_difference"),
    script:
        "../../scripts/tabulate_calibration.py"


rule calibrate:
    """Stage target (`snakemake calibrate`): the masters, calibration.csv and calibrated lights of every dataset with calibration frames."""
    input:
        stage_products("calibrate"),


FRAME_INPUTS["background"] = background_input
