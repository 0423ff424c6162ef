"""The synthetic datasets: frames made by stackphot.simulate from a spec in data/, with their truth."""

for _name, _dataset in DATASETS.items():
    if _dataset.simulate is None:
        continue

    rule:
        """Make a synthetic dataset's frames from its spec with stackphot.simulate, with the true shifts and stars."""
        name:
            f"simulate_{_name}"
        input:
            spec=str(_dataset.simulate),
        output:
            frames=[str(path) for path in _dataset.frames.values()],
            shifts=f"data/{_name}/truth_shifts.csv",
            stars=f"data/{_name}/truth_stars.csv",
        log:
            f"logs/{_name}/simulate.log",
        benchmark:
            f"benchmarks/{_name}/simulate.tsv"
        conda:
            "../../envs/stackphot.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(10, _name),
            runtime=runtime(3, _name, "all"),
        script:
            "../../scripts/simulate_frames.py"


rule simulate:
    """Stage target (`snakemake simulate`): every simulated dataset's frames and their truth tables."""
    input:
        stage_products("simulate"),
