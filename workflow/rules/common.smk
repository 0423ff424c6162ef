"""Helpers shared by the rules: which datasets and frames there are, and where their files live."""

import math
import os
import re
from pathlib import Path

import yaml

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from stackphot import worker
from stackphot.inventory import exposure_name
from stackphot.datasets import (
    AUTO_MIN_BATCHES,
    foreign_results,
    moved_keys,
    resolve_datasets,
    typed_text,
)


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


# glibc gives every freed block above 32 MB (a 2048 x 2048 frame in double precision) back to the system, and the
# next such array is faulted in again page by page: a job's arrays stay in its own heap instead (README,
# "Performance"). The jobs inherit this from the process that reads this file: Snakemake, or on a cluster node the
# Snakemake that runs the job there. A value the user set stays.
for variable, value in (
    ("MALLOC_MMAP_THRESHOLD_", 2**30),
    ("MALLOC_TRIM_THRESHOLD_", 2**32),
):
    os.environ.setdefault(variable, str(value))

moved = moved_keys(config)
if moved:
    raise WorkflowError("configuration keys that have moved:\n" + "\n".join(moved))
# --config gives nested numbers as text: read them, where the schema wants no text, before the schema checks them.
with open(
    Path(workflow.current_basedir) / ".." / "schemas" / "config.schema.yaml"
) as schema:
    config.update(typed_text(config, yaml.safe_load(schema)))
validate_config(config, "configuration")
DATASETS = resolve_datasets(config)
for name in DATASETS:
    # A copy: the schema's top-level defaults must not land among the dataset's settings.
    validate_config({**DATASETS[name].settings}, f"settings of dataset {name!r}")
    earlier = foreign_results(DATASETS[name])
    if earlier is not None:
        night = DATASETS[name].night_name
        raise WorkflowError(
            f"results/{night}/ holds the products of the frames in {earlier}, and this run's folder "
            f"{DATASETS[name].folder} has the same name {night!r}: give it a name of its own (--config "
            f"datasets='{{{night}2: {{path: {DATASETS[name].folder}}}}}') or move results/{night}/ away"
        )

# A local run's jobs start in a process forked from one with every import done (stackphot/worker.py). Snakemake
# runs these handlers in its own process only, never in a cluster job's.
WARM_WORKER = []


onstart:
    if config["run"]["worker"] and workflow.local_exec:
        WARM_WORKER.append(worker.start())


onsuccess:
    for process in WARM_WORKER:
        worker.stop(process)


onerror:
    for process in WARM_WORKER:
        worker.stop(process)


def group_name(dataset):
    """The group part of a dataset's name ("V_30s" of "night/V_30s"); "" for a night of one group."""
    return dataset.removeprefix(DATASETS[dataset].night_name).lstrip("/")


def per_dataset(read, dataset=None):
    """``read(name)`` for ``dataset``; without one, an input function giving it for the wildcards' dataset."""
    if dataset is not None:
        return read(dataset)

    def for_wildcards(wildcards):
        return read(wildcards.dataset)

    return for_wildcards


def setting(path, dataset=None):
    """A rule's parameter: the value at ``path`` ("detect/box_size", "stack/method") of the dataset's settings,
    its own `settings` over the config's: for ``dataset``, else a function of the wildcards' dataset.
    """

    def value_of(name):
        value = DATASETS[name].settings
        for key in path.split("/"):
            value = value[key]
        return value

    return per_dataset(value_of, dataset)


def setting_keys(section, *keys, dataset=None):
    """A rule's parameter: only ``keys`` of one ``section`` of the dataset's settings, as a dict.

    Snakemake reruns a job whose params changed: a rule given the whole section would rerun when any key of it
    changes, one given only the keys its script reads reruns when one of those does.
    """

    def keys_of(name):
        values = DATASETS[name].settings[section]
        return {key: values[key] for key in keys}

    return per_dataset(keys_of, dataset)


TARGET_NAMES = sorted(
    {
        target["name"]
        for dataset in DATASETS.values()
        for target in dataset.settings["lightcurve"]["targets"]
    }
)


wildcard_constraints:
    # Escaped: a '.' in a dataset name ("m13.v2") must match itself, not any character.
    dataset="|".join(map(re.escape, DATASETS)),
    frame="[^/]+",
    plane="R|G|B",
    # The light curves' targets (`lightcurve: targets`), each dataset's; none matches the other time-series files.
    target="|".join(map(re.escape, TARGET_NAMES)) or "(?!)",


# The frames each per-frame step starts from, by dataset. A stage that works on the frames between ingest and
# the background (calibrate.smk: bias, dark and flat) sets FRAME_INPUTS["background"] to its own, in its rule
# file, included before background.smk, and every later stage follows unchanged.
FRAME_INPUTS = {"background": lambda dataset: "results/{dataset}/ingest/{frame}.fits"}


# Why the per-frame steps (ingest, background, shifts, alignment) are rules generated in a loop, one rule per
# (dataset, batch of frames), instead of one with a {frame} wildcard. A job is a Python start and its
# imports, 1 to 3 s of CPU and about 90 MB (`import photutils.background` alone takes 2 s), which thousands of
# small frames would each pay for (src/stackphot/datasets.py, AUTO_PIXELS_PER_JOB). Each frame still has its own
# image files, written by its batch's job. Registration writes one table per batch, not a one-row file per
# frame: Snakemake checksums each small input once per output file of a job, so a thousand one-row files cost it
# more than their rows (README, "Many frames" and "Performance"). The batches follow `run: batch_size`, a run
# setting: the products are byte-identical whatever it is. `snakemake <stage>` (ingest, background, register,
# align, ...) asks for a stage by name whatever the batch rules are called.
def frame_batches(stage="frames"):
    """(dataset, batch number, frame names) of every batch of frames of a batched ``stage``: ``frames`` (ingest to
    alignment, every dataset) or ``photometry`` (the time series', for the datasets that make one).
    """
    return [
        (name, index, frames)
        for name, dataset in DATASETS.items()
        if stage != "photometry" or makes_time_series(name)
        for index, frames in enumerate(
            dataset.batches(frames_per_job(stage, len(dataset.frame_names))), start=1
        )
    ]


# The per-frame photometry of the time series (lightcurve.smk) costs by the stars more than by the pixels (README,
# "Time series"): its jobs hold up to this many frames each, not the frame_batches' pixel budget, and there are at
# least AUTO_MIN_BATCHES of them while each keeps the least here, so that the cores share a dense field's work.
PHOTOMETRY_FRAMES_PER_JOB = 64
PHOTOMETRY_MIN_FRAMES_PER_JOB = 8


def frames_per_job(stage, n_frames):
    """The batch size of ``stage`` (see frame_batches) for a dataset of ``n_frames``: `run: batch_size` for the
    per-frame steps; for the photometry, jobs of equal size (97 frames: 25, 25, 25 and 22), at most
    PHOTOMETRY_FRAMES_PER_JOB frames each, and so many that the cores share the work (40 frames: 4 jobs, where
    one job of 40 kept one core idle; 5 frames: one job).
    """
    if stage == "photometry":
        jobs = max(
            math.ceil(n_frames / PHOTOMETRY_FRAMES_PER_JOB),
            min(AUTO_MIN_BATCHES, n_frames // PHOTOMETRY_MIN_FRAMES_PER_JOB),
        )
        return max(1, math.ceil(n_frames / max(jobs, 1)))
    return config["run"]["batch_size"]


# Fewer frames than this are no time series: no light curve, no variability search (a group of one frame).
MIN_TIME_SERIES_FRAMES = 3


def makes_time_series(name):
    """Whether dataset ``name`` gets the time-series products (lightcurve.smk)."""
    dataset = DATASETS[name]
    return (
        dataset.settings["lightcurve"]["enabled"]
        and len(dataset.frames) >= MIN_TIME_SERIES_FRAMES
    )


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


# The stack's memory budget is a run setting: the stack_frames job's mem_mb (default STACK_MEM_MB; set it with
# `--set-resources stack_frames:mem_mb=N` or a profile's `set-resources`) less what Python, its imports and the
# frames' headers take (the job's peak was 747 MB at 100 frames of 2048 x 2048 with 1024 MB, make bench).
STACK_OVERHEAD_MB = 400
STACK_MEM_MB = 1024 + STACK_OVERHEAD_MB


def stack_memory_budget(wildcards, resources):
    """params memory_mb of stack_frames: the job's mem_mb less STACK_OVERHEAD_MB."""
    budget = resources.mem_mb - STACK_OVERHEAD_MB
    if budget < 16:
        raise WorkflowError(
            f"stack_frames needs mem_mb of at least {16 + STACK_OVERHEAD_MB}, not {resources.mem_mb}"
        )
    return budget


# A colour (Bayer) dataset's frames are split (colour.smk) into a luminance and the single-pixel planes of
# each cell (SPLIT_PLANES), each background-subtracted and aligned beside the luminance; the aligned planes of
# a colour (both greens are G) are stacked together, into one stack per colour (COLOUR_PLANES).
SPLIT_PLANES = ("R", "G1", "G2", "B")
COLOUR_PLANES = ("R", "G", "B")


def split_planes(colour):
    """The split planes of one colour: G1 and G2 for G."""
    return [plane for plane in SPLIT_PLANES if plane[0] == colour]


def planes_per_frame(wildcards):
    """params of a colour's cube: the aligned planes of each frame averaged into its plane (2 for G)."""
    return len(split_planes(wildcards.plane))


def frame_variants(dataset):
    """The suffixes of a frame's images in the per-frame stages after the split: "" (the luminance, or the
    monochrome frame) and, for a colour dataset, ".R", ".G1", ".G2", ".B"."""
    planes = SPLIT_PLANES if DATASETS[dataset].colour else ()
    return [""] + [f".{plane}" for plane in planes]


def colour_files(pattern, dataset, frames):
    """``pattern`` (with {dataset}, {frame}, {plane}) for every split plane of every frame, plane by plane;
    none for a monochrome dataset."""
    planes = SPLIT_PLANES if DATASETS[dataset].colour else ()
    return [
        pattern.format(dataset=dataset, frame=frame, plane=plane)
        for plane in planes
        for frame in frames
    ]


def variant_files(pattern, dataset, frames):
    """``pattern`` (with {dataset}, {frame}, {variant}) for every variant of every frame (frame_variants), the
    luminance's (or monochrome) first, then each colour plane's."""
    luminance = [
        pattern.format(dataset=dataset, frame=frame, variant="") for frame in frames
    ]
    return luminance + colour_files(
        pattern.replace("{variant}", ".{plane}"), dataset, frames
    )


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


def per_batch(pattern, stage="frames"):
    """Input function: ``pattern`` formatted for every batch of ``stage`` (frame_batches) of the wildcards' dataset."""

    def batch_files(wildcards):
        return [
            pattern.format(dataset=dataset, index=index)
            for dataset, index, _ in frame_batches(stage)
            if dataset == wildcards.dataset
        ]

    return batch_files


def per_frame_plane(pattern):
    """Input function: ``pattern`` for every frame of the wildcards' dataset, in each split plane of the
    wildcards' colour (G1 and G2 for G), frame by frame."""

    def expand_frames(wildcards):
        return [
            pattern.format(dataset=wildcards.dataset, frame=frame, plane=plane)
            for frame in dataset_frames(wildcards)
            for plane in split_planes(wildcards.plane)
        ]

    return expand_frames


def reference_frame_plane(pattern):
    """Input function: ``pattern`` for the reference frame of the wildcards' dataset, in the first split plane
    of the wildcards' colour."""

    def reference_file(wildcards):
        return pattern.format(
            dataset=wildcards.dataset,
            frame=DATASETS[wildcards.dataset].reference,
            plane=split_planes(wildcards.plane)[0],
        )

    return reference_file


def stack_reference(wildcards):
    """The image whose header a stack starts from: the reference frame as ingested, or for a colour dataset its
    luminance plane (the mosaic's cards, BAYERPAT among them, describe no stack)."""
    dataset = DATASETS[wildcards.dataset]
    plane = "channels/{frame}.L" if dataset.colour else "ingest/{frame}"
    return f"results/{{dataset}}/{plane}.fits".format(
        dataset=wildcards.dataset, frame=dataset.reference
    )


def noise_weight_skies(pattern):
    """Input function: the sky maps ``pattern`` of every frame where the stack weights frames by their noise
    (`stack: weights: noise`), else none."""

    def skies(wildcards):
        if setting("stack/weights", wildcards.dataset) != "noise":
            return []
        planes = split_planes(wildcards.plane) if "plane" in wildcards.keys() else [""]
        return [
            pattern.format(dataset=wildcards.dataset, frame=frame, plane=plane)
            for frame in dataset_frames(wildcards)
            for plane in planes
        ]

    return skies


def reference_frame(pattern):
    """Input function: ``pattern`` for the reference frame of the wildcards' dataset."""

    def reference_file(wildcards):
        return pattern.format(
            dataset=wildcards.dataset, frame=DATASETS[wildcards.dataset].reference
        )

    return reference_file


# What `snakemake <stage>` makes (a stage is a file workflow/rules/<stage>.smk), in DAG order. The files
# of each dataset, then the files of each of its frames ({frame}). Optional products are added by
# dataset_products().
STAGE_PRODUCTS = {
    "simulate": ([], []),
    "ingest": (
        ["results/{dataset}/frames.csv"],
        ["results/{dataset}/ingest/{frame}.fits"],
    ),
    # Only for datasets with calibration frames: dataset_products().
    "calibrate": ([], []),
    # Only for colour datasets: dataset_products().
    "colour": ([], []),
    # Only for datasets whose settings ask for a defect map: dataset_products().
    "defects": ([], []),
    "background": (
        [],
        [
            "results/{dataset}/background/{frame}.sub.fits",
            "results/{dataset}/background/{frame}.sky.fits",
        ],
    ),
    "register": (
        [
            "results/{dataset}/shifts.csv",
            "results/{dataset}/frame_selection.csv",
            "results/{dataset}/rejected.csv",
        ],
        [],
    ),
    "align": (
        ["results/{dataset}/aligned_cube.fits"],
        ["results/{dataset}/aligned/{frame}.fits"],
    ),
    "stack": (["results/{dataset}/stack.fits"], []),
    "detect": (
        [
            "results/{dataset}/catalog.csv",
            "results/{dataset}/catalog.ecsv",
            "results/{dataset}/segmentation.fits",
        ],
        [],
    ),
    "photometry": (
        [
            "results/{dataset}/photometry.csv",
            "results/{dataset}/photometry.ecsv",
            "results/{dataset}/curve_of_growth.csv",
            "results/{dataset}/curve_of_growth.png",
        ],
        [],
    ),
    # Only for datasets whose settings ask for it (`lightcurve: enabled`): dataset_products().
    "lightcurve": ([], []),
    "report": (
        [
            "results/{dataset}/catalog.reg",
            "results/{dataset}/apertures.reg",
            "results/{dataset}/frame_quality.csv",
            "results/{dataset}/plots/frame_quality.html",
            "results/{dataset}/plots/stack.png",
            "results/{dataset}/plots/catalog.png",
            "results/{dataset}/plots/registration.png",
            "results/{dataset}/plots/background.png",
        ],
        [],
    ),
}


def stage_products(stage):
    """The stage's products of every dataset, what its target (`snakemake align`) asks for."""
    return [path for name in DATASETS for path in dataset_products(name, stage)]


def dataset_products(name, stage):
    """The products of one ``stage`` (a key of STAGE_PRODUCTS) for dataset ``name``."""
    dataset = DATASETS[name]
    of_dataset, of_frames = STAGE_PRODUCTS[stage]
    products = expand(of_dataset, dataset=name)
    products += expand(of_frames, dataset=name, frame=dataset.frame_names)
    # The single frames cataloged and measured besides the stack (detect: frames).
    single = [f for f in dataset.settings["detect"]["frames"] if f in dataset.frames]
    sky = dataset.settings["photometry"]["sky"]
    if stage == "simulate" and dataset.simulate is not None:
        products += [str(path) for path in dataset.frames.values()]
        products += expand(
            "data/{dataset}/truth_{table}.csv", dataset=name, table=["shifts", "stars"]
        )
    if stage == "calibrate" and dataset.calibration is not None:
        products += [
            master_file(name, master) for master in dataset.calibration.masters_to_make
        ]
        products.append(f"results/{name}/calibration.csv")
        products += expand(
            "results/{dataset}/calibrate/{frame}.fits",
            dataset=name,
            frame=dataset.frame_names,
        )
    if dataset.colour:
        products += colour_products(name, stage)
    if stage == "lightcurve" and makes_time_series(name):
        products += light_curve_products(name)
    if stage == "defects" and dataset.settings["background"]["defects"]:
        products.append(f"results/{name}/defects.fits")
    if stage == "report" and dataset.calibration is not None:
        products.append(f"results/{name}/plots/calibration.png")
    if stage == "register" and dataset.simulate is not None:
        products.append(f"results/{name}/registration_accuracy.csv")
    if stage in ("detect", "photometry"):
        products += expand(
            "results/{dataset}/frames/{frame}.{product}.{ext}",
            dataset=name,
            frame=single,
            product="catalog" if stage == "detect" else "photometry",
            ext=["csv", "ecsv"],
        )
    if stage == "photometry" and (sky["targets"] or sky["targets_file"]):
        products += expand(
            "results/{dataset}/sky_photometry.{ext}", dataset=name, ext=["csv", "ecsv"]
        )
    return products


def colour_products(name, stage):
    """A colour dataset's products of ``stage`` beside the luminance's (colour.smk)."""
    frames = DATASETS[name].frame_names
    planes = {
        "colour": expand(
            "results/{dataset}/channels/{frame}.{plane}.fits",
            dataset=name,
            frame=frames,
            plane=("L",) + SPLIT_PLANES,
        ),
        "background": expand(
            "results/{dataset}/background/{frame}.{plane}.{kind}.fits",
            dataset=name,
            frame=frames,
            plane=SPLIT_PLANES,
            kind=["sub", "sky"],
        ),
        "align": expand(
            "results/{dataset}/aligned/{frame}.{plane}.fits",
            dataset=name,
            frame=frames,
            plane=SPLIT_PLANES,
        )
        + expand(
            "results/{dataset}/channels/aligned_cube.{plane}.fits",
            dataset=name,
            plane=COLOUR_PLANES,
        ),
        "stack": expand(
            "results/{dataset}/channels/stack.{plane}.fits",
            dataset=name,
            plane=COLOUR_PLANES,
        )
        + [
            f"results/{name}/stack_rgb.fits",
            f"results/{name}/colour_alignment.csv",
        ],
        "photometry": expand(
            "results/{dataset}/channels/photometry.{plane}.{ext}",
            dataset=name,
            plane=COLOUR_PLANES,
            ext=["csv", "ecsv"],
        ),
        "report": [f"results/{name}/plots/colour.png"],
    }
    return planes.get(stage, [])


def light_curve_products(name):
    """A dataset's time-series products: the per-frame photometry, the variability search, each target's curve."""
    products = [
        f"results/{name}/lightcurves/photometry.ecsv",
        f"results/{name}/lightcurves/times.csv",
        f"results/{name}/lightcurves/variability.csv",
        f"results/{name}/plots/variability.png",
    ]
    for target in DATASETS[name].settings["lightcurve"]["targets"]:
        products += [
            f"results/{name}/lightcurves/{target['name']}.csv",
            f"results/{name}/lightcurves/{target['name']}.ecsv",
            f"results/{name}/plots/lightcurve_{target['name']}.png",
        ]
    return products


def light_curve_target(wildcards):
    """params of make_light_curve: the wildcards' target as the dataset's settings give it."""
    targets = DATASETS[wildcards.dataset].settings["lightcurve"]["targets"]
    return next(target for target in targets if target["name"] == wildcards.target)


def colour_bands(name):
    """The two bands whose stack photometry gives make_light_curve each star's colour index (the first's
    magnitude minus the second's): a colour dataset's blue and red planes (measured at the luminance's sources),
    or this group's filter and another filter's group of the same night (its catalog matched on the sky); none
    for a night of one band. (band, photometry, catalog) each."""
    dataset = DATASETS[name]
    if dataset.colour:
        return [
            (
                plane,
                f"results/{name}/channels/photometry.{plane}.csv",
                f"results/{name}/catalog.csv",
            )
            for plane in ("B", "R")
        ]
    band = dataset.group.get("filter")
    others = [
        other
        for other, candidate in DATASETS.items()
        if candidate.night_name == dataset.night_name
        and candidate.group.get("filter") not in (None, band)
    ]
    if band is None or not others:
        return []
    return [
        (
            DATASETS[group].group["filter"],
            f"results/{group}/photometry.csv",
            f"results/{group}/catalog.csv",
        )
        for group in (name, others[0])
    ]


def light_curve_colour_files(wildcards):
    """make_light_curve's colour inputs: photometry and catalog of each of colour_bands."""
    return [
        path
        for _, photometry, catalog in colour_bands(wildcards.dataset)
        for path in (photometry, catalog)
    ]


def light_curve_colour_bands(wildcards):
    return [band for band, _, _ in colour_bands(wildcards.dataset)]


def all_products():
    """Every stage's products of every dataset, what `snakemake` makes by default."""
    return [path for stage in STAGE_PRODUCTS for path in stage_products(stage)]


# Calibration (calibrate.smk): the masters of the datasets with calibration frames, made once per night (the
# groups of a night's lights share them).
def calibrated_datasets():
    """The first dataset of each night with calibration frames, and the night's plan."""
    first = {}
    for name, dataset in DATASETS.items():
        if dataset.calibration is not None:
            first.setdefault(dataset.night_name, name)
    return {name: DATASETS[name].calibration for name in first.values()}


def master_file(dataset, name):
    """A master's file: a ready one where the config or the folder gives it, else the one this night makes."""
    ready = DATASETS[dataset].calibration.ready.get(name)
    night = DATASETS[dataset].night_name
    return str(ready) if ready else f"results/{night}/calibrate/{name}.fits"


def master_files(dataset, kinds=("bias", "dark", "flat")):
    return [
        master_file(dataset, name)
        for name in DATASETS[dataset].calibration.masters(kinds)
    ]


def zero_level_masters(dataset):
    """The master bias and darks of a night with calibration frames (none without), whose frames of no light
    measure the camera's read noise for the frames table (stackphot.calibrate.noise)."""
    if DATASETS[dataset].calibration is None:
        return []
    return master_files(dataset, ("bias", "dark"))


def master_params(dataset, kind, exptime=None, flat=None, warnings=()):
    """The params of a master rule: the noise model, the combine, what the master is and what its log warns of."""
    return {
        "kind": kind,
        "exptime": exptime,
        "flat": flat,
        # A colour sensor's flat is normalised colour by colour (stackphot.calibrate.master_flat).
        "colour": DATASETS[dataset].colour,
        "warnings": list(warnings),
        "gain": setting("ingest/gain", dataset),
        "read_noise": setting("ingest/read_noise", dataset),
        "saturation": setting("ingest/saturation", dataset),
        "method": setting("calibrate/method", dataset),
        "sigma": setting("calibrate/sigma", dataset),
        # The job's mem_mb less 400 MB for Python and the masters it holds.
        "memory_mb": 600,
    }


def calibration_warnings(dataset, frames):
    """What the calibration of ``frames`` (a light, or the flats of a master) lacks, for its job's log."""
    return DATASETS[dataset].calibration.warnings_of(
        frames,
        max_temperature_difference=setting(
            "calibrate/max_temperature_difference", dataset
        ),
    )


def lights_calibration(dataset):
    """frames.csv's calibration of each light, by frame: what is done to it and what that lacks (None: the
    dataset has no calibration frames)."""
    plan = DATASETS[dataset].calibration
    if plan is None:
        return None
    return {
        name: (
            plan.calibration_of(plan.lights[name]),
            "; ".join(calibration_warnings(dataset, [plan.lights[name]])),
        )
        for name in DATASETS[dataset].frame_names
    }


def background_input(dataset):
    """The calibrated lights where the dataset has calibration frames, else the ingested ones (as before)."""
    if DATASETS[dataset].calibration is not None:
        return "results/{dataset}/calibrate/{frame}.fits"
    return "results/{dataset}/ingest/{frame}.fits"


def luminance_input(dataset):
    """A colour dataset's frames after the split (colour.smk): its luminance planes; any other's as before."""
    if DATASETS[dataset].colour:
        return "results/{dataset}/channels/{frame}.L.fits"
    return background_input(dataset)
