"""Helpers shared by the rules: which datasets and frames there are, and where their files live."""

from stackphot.datasets import resolve_datasets


DATASETS = resolve_datasets(config)


wildcard_constraints:
    dataset="|".join(DATASETS),
    frame="[^/]+",


def dataset_frames(wildcards):
    return DATASETS[wildcards.dataset].frame_names


def raw_frame(wildcards):
    """The raw file of one frame (read-only input)."""
    return str(DATASETS[wildcards.dataset].frames[wildcards.frame])


def per_frame(pattern):
    """Input function: ``pattern`` expanded over every frame of the wildcards' dataset."""

    def expand_frames(wildcards):
        return expand(pattern, dataset=wildcards.dataset, frame=dataset_frames(wildcards))

    return expand_frames


def reference_frame(pattern):
    """Input function: ``pattern`` for the reference frame of the wildcards' dataset."""

    def reference_file(wildcards):
        return pattern.format(dataset=wildcards.dataset, frame=DATASETS[wildcards.dataset].reference)

    return reference_file


def all_products():
    products = []
    for name, dataset in DATASETS.items():
        products += expand(
            [
                "results/{dataset}/frames.csv",
                "results/{dataset}/shifts.csv",
                "results/{dataset}/aligned_cube.fits",
                "results/{dataset}/stack.fits",
            ],
            dataset=name,
        )
        if dataset.simulate is not None:
            products.append(f"results/{name}/registration_accuracy.csv")
    return products
