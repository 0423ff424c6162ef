# Hot pixels fixed to the detector, found in every frame of a dataset as the background stage reads it (the
# calibrated lights where the dataset has calibration frames: the master dark's hot pixels are masked there
# already), then flagged in each subtracted frame's MASK by the background batches (background.smk). One rule
# per dataset whose settings ask for a map (`background: defects`, on by default); the others have none, and
# their background batches wait for none.
for dataset in DATASETS:
    if not setting("background/defects", dataset):
        continue

    rule:
        """Map the pixels that stand alone above their neighbours at one detector position in most frames."""
        name:
            re.sub(r"\W", "_", f"find_defects_{dataset}")
        input:
            frames=expand(
                FRAME_INPUTS["background"](dataset),
                dataset=dataset,
                frame=DATASETS[dataset].frame_names,
            ),
        output:
            defects=f"results/{dataset}/defects.fits",
        log:
            f"logs/{dataset}/find_defects.log",
        benchmark:
            f"benchmarks/{dataset}/find_defects.tsv"
        conda:
            "../../envs/stackphot.yaml"
        threads: 1
        resources:
            # One frame at a time with its ERR, MASK and working copies, and two maps of counts.
            mem_mb=mem_mb(12, dataset),
            runtime=runtime(1, dataset, "all"),
        params:
            defects=setting("background/defects", dataset),
        script:
            "../../scripts/find_defects.py"


rule defects:
    """Stage target (`snakemake defects`): the defect map of every dataset whose settings ask for one."""
    input:
        stage_products("defects"),
