"""Helpers shared by the rules: which datasets and frames there are, and where their files live."""

import math
import re

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from stackphot.datasets import resolve_datasets


def validate_config(settings, what):
    """Check ``settings`` against the config schema (filling in defaults); on error, say what is wrong in a
    few lines, naming ``what`` was checked."""
    try:
        validate(settings, "../schemas/config.schema.yaml")
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
            f"invalid {what}: {problem.removeprefix('ValidationError: ')} ({where.rstrip(':')})"
        ) from None


validate_config(config, "configuration")
DATASETS = resolve_datasets(config)
for name in DATASETS:
    # A copy: the schema's top-level defaults must not land among the dataset's settings.
    validate_config({**DATASETS[name].settings}, f"settings of dataset {name!r}")


def setting(path, dataset=None):
    """A rule's parameter: the value at ``path`` ("detect", "stack/method") of the dataset's settings, its
    own `settings` over the config's: for ``dataset``, else a function of the wildcards' dataset.
    """

    def value_of(name):
        value = DATASETS[name].settings
        for key in path.split("/"):
            value = value[key]
        return value

    if dataset is not None:
        return value_of(dataset)
    return lambda wildcards: value_of(wildcards.dataset)


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


# Resources of a job, for cluster executors, from the frame size: Python with its imports takes about 90 MB
# and 1 s (benchmarks/), and each step holds some number of float32 frames at once.
UNKNOWN_FRAME_PIXELS = 4096 * 4096


def frame_megapixels(dataset):
    return (DATASETS[dataset].pixels or UNKNOWN_FRAME_PIXELS) / 1e6


def mem_mb(frames_held, dataset=None):
    """resources mem_mb: 200 MB plus ``frames_held`` float32 frames of the dataset (the wildcard's if None)."""

    def estimate(wildcards):
        name = dataset or wildcards.dataset
        return 200 + math.ceil(4 * frames_held * frame_megapixels(name))

    return estimate


def runtime(seconds_per_megapixel, dataset=None, n_frames=1):
    """resources runtime (minutes): 10 plus the work on ``n_frames`` frames (``"all"``: the dataset's)."""

    def estimate(wildcards):
        name = dataset or wildcards.dataset
        frames = len(DATASETS[name].frames) if n_frames == "all" else n_frames
        return 10 + math.ceil(
            frames * frame_megapixels(name) * seconds_per_megapixel / 60
        )

    return estimate


def dataset_frames(wildcards):
    return DATASETS[wildcards.dataset].frame_names


def raw_frame_paths(wildcards):
    """The dataset's raw files, in frame order (for messages that name them)."""
    dataset = DATASETS[wildcards.dataset]
    return [str(dataset.frames[frame]) for frame in dataset.frame_names]


def per_frame(pattern):
    """Input function: ``pattern`` expanded over every frame of the wildcards' dataset."""

    def expand_frames(wildcards):
        return expand(
            pattern, dataset=wildcards.dataset, frame=dataset_frames(wildcards)
        )

    return expand_frames


def per_batch(pattern):
    """Input function: ``pattern`` formatted for every batch of frames of the wildcards' dataset."""

    def batch_files(wildcards):
        return [
            pattern.format(dataset=dataset, index=index)
            for dataset, index, _ in frame_batches()
            if dataset == wildcards.dataset
        ]

    return batch_files


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
                "results/{dataset}/rejected.csv",
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
            frame=[
                f for f in dataset.settings["detect"]["frames"] if f in dataset.frames
            ],
            ext=["csv", "ecsv"],
        )
        sky = dataset.settings["photometry"]["sky"]
        if sky["targets"] or sky["targets_file"]:
            products += expand(
                "results/{dataset}/sky_photometry.{ext}",
                dataset=name,
                ext=["csv", "ecsv"],
            )
        if dataset.simulate is not None:
            products.append(f"results/{name}/registration_accuracy.csv")
    return products
