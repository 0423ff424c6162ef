"""Helpers shared by the rules: which datasets and frames there are, and where their files live."""

import re

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from stackphot.datasets import resolve_datasets


def validate_config():
    """Check the config against the schema (filling in defaults); on error, say what is wrong in a few lines."""
    try:
        validate(config, "../schemas/config.schema.yaml")
    except WorkflowError as error:
        # Snakemake appends the whole schema to the message; the first lines name the key and the problem.
        lines = [line for line in str(error).splitlines() if line.strip()]
        where = next(
            (line for line in lines if line.startswith("Failed validating")), ""
        )
        problem = next(
            (line for line in lines if line.startswith("ValidationError")), lines[0]
        )
        raise WorkflowError(
            f"invalid configuration: {problem.removeprefix('ValidationError: ')} ({where.rstrip(':')})"
        ) from None


validate_config()
DATASETS = resolve_datasets(config)


wildcard_constraints:
    dataset="|".join(DATASETS),
    frame="[^/]+",


def frame_batches():
    """(dataset, batch number, frame names) of every batch of frames (config ``batch_size``): the
    per-frame steps run one job per batch, each frame still with its own files."""
    return [
        (name, index, frames)
        for name, dataset in DATASETS.items()
        for index, frames in enumerate(dataset.batches(config["batch_size"]), start=1)
    ]


def batch_rule_name(stage, dataset, index):
    """A rule name for one batch of one dataset (a Python identifier, as Snakemake needs)."""
    return re.sub(r"\W", "_", f"{stage}_{dataset}_{index:04d}")


def dataset_frames(wildcards):
    return DATASETS[wildcards.dataset].frame_names


def per_frame(pattern):
    """Input function: ``pattern`` expanded over every frame of the wildcards' dataset."""

    def expand_frames(wildcards):
        return expand(
            pattern, dataset=wildcards.dataset, frame=dataset_frames(wildcards)
        )

    return expand_frames


def reference_frame(pattern):
    """Input function: ``pattern`` for the reference frame of the wildcards' dataset."""

    def reference_file(wildcards):
        return pattern.format(
            dataset=wildcards.dataset, frame=DATASETS[wildcards.dataset].reference
        )

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
                "results/{dataset}/catalog.csv",
                "results/{dataset}/catalog.ecsv",
                "results/{dataset}/photometry.csv",
                "results/{dataset}/photometry.ecsv",
                "results/{dataset}/curve_of_growth.csv",
                "results/{dataset}/curve_of_growth.png",
                "results/{dataset}/catalog.reg",
                "results/{dataset}/apertures.reg",
                "results/{dataset}/frame_quality.csv",
                "results/{dataset}/plots/frame_quality.html",
                "results/{dataset}/plots/stack.png",
                "results/{dataset}/plots/shifts.png",
                "results/{dataset}/plots/background.png",
            ],
            dataset=name,
        )
        products += expand(
            "results/{dataset}/frames/{frame}.photometry.{ext}",
            dataset=name,
            frame=[f for f in config["detect"]["frames"] if f in dataset.frames],
            ext=["csv", "ecsv"],
        )
        sky = config["photometry"]["sky"]
        if sky["targets"] or sky["targets_file"]:
            products += expand(
                "results/{dataset}/sky_photometry.{ext}",
                dataset=name,
                ext=["csv", "ecsv"],
            )
        if dataset.simulate is not None:
            products.append(f"results/{name}/registration_accuracy.csv")
    return products
