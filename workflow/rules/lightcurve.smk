# Time series (`lightcurve:` in the config): every frame measured at the stack's sources on its own
# background-subtracted pixels (the catalog carried into it by its transform), the frames' times, a variability
# search over every star, and the differential light curves of the targets.


# One job per batch of frames, not per frame: why, in common.smk above frame_batches().
for dataset, index, frames in frame_batches("photometry"):

    rule:
        """Measure a batch of frames at the stack's sources, each on its own pixels through its transform."""
        name:
            batch_rule_name("measure_forced_photometry", dataset, index)
        input:
            frames=expand(
                "results/{dataset}/background/{frame}.sub.fits",
                dataset=dataset,
                frame=frames,
            ),
            shifts=f"results/{dataset}/shifts.csv",
            catalog=f"results/{dataset}/catalog.csv",
        output:
            table=f"results/{dataset}/lightcurves/batch_{index:04d}.csv",
        log:
            f"logs/{dataset}/measure_forced_photometry/batch_{index:04d}.log",
        benchmark:
            f"benchmarks/{dataset}/measure_forced_photometry/batch_{index:04d}.tsv"
        conda:
            "../../envs/stackphot.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(12, dataset),
            runtime=runtime(2, dataset, len(frames)),
        params:
            lightcurve=setting_keys(
                "lightcurve", "radii", "fwhm_radii", "annulus", dataset=dataset
            ),
        script:
            "../../scripts/measure_forced_photometry.py"


rule collect_forced_photometry:
    """Every accepted frame's photometry in one long table with the frames' times (JD, BJD), airmass and seeing."""
    input:
        batches=per_batch(
            "results/{dataset}/lightcurves/batch_{index:04d}.csv", "photometry"
        ),
        selection="results/{dataset}/frame_selection.csv",
        frames="results/{dataset}/frames.csv",
        shifts="results/{dataset}/shifts.csv",
        stack="results/{dataset}/stack.fits",
    output:
        photometry="results/{dataset}/lightcurves/photometry.ecsv",
        times="results/{dataset}/lightcurves/times.csv",
    log:
        "logs/{dataset}/collect_forced_photometry.log",
    benchmark:
        "benchmarks/{dataset}/collect_forced_photometry.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(4),
        runtime=runtime(0.2, n_frames="all"),
    params:
        observatory=setting_keys("observatory", "latitude", "longitude", "elevation"),
    script:
        "../../scripts/collect_forced_photometry.py"


rule find_variables:
    """Every star's scatter against the noise expected of it, and the stars that vary beyond it."""
    input:
        photometry="results/{dataset}/lightcurves/photometry.ecsv",
        times="results/{dataset}/lightcurves/times.csv",
        catalog="results/{dataset}/catalog.csv",
    output:
        table="results/{dataset}/lightcurves/variability.csv",
        plot=report(
            "results/{dataset}/plots/variability.png",
            caption="../report/variability.rst",
            category="Light curves",
            labels={"dataset": "{dataset}", "figure": "variability"},
        ),
    log:
        "logs/{dataset}/find_variables.log",
    benchmark:
        "benchmarks/{dataset}/find_variables.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(4),
        runtime=runtime(0.2, n_frames="all"),
    params:
        lightcurve=setting_keys(
            "lightcurve", "variable_nsigma", "use_fwhm_radius", "radii", "fwhm_radii"
        ),
        diameter=setting("observatory/diameter"),
    script:
        "../../scripts/find_variables.py"


rule make_light_curve:
    """One target's differential light curve against an ensemble of comparison stars, with check stars and a plot."""
    input:
        photometry="results/{dataset}/lightcurves/photometry.ecsv",
        times="results/{dataset}/lightcurves/times.csv",
        catalog="results/{dataset}/catalog.csv",
        stack_photometry="results/{dataset}/photometry.csv",
        # The variability search's variables compare with nothing and check nothing.
        variability="results/{dataset}/lightcurves/variability.csv",
        stack="results/{dataset}/stack.fits",
        # Two bands' stack photometry, where the night has them: comparisons of the target's colour.
        colours=light_curve_colour_files,
    output:
        csv="results/{dataset}/lightcurves/{target}.csv",
        ecsv="results/{dataset}/lightcurves/{target}.ecsv",
        plot=report(
            "results/{dataset}/plots/lightcurve_{target}.png",
            caption="../report/lightcurve.rst",
            category="Light curves",
            labels={"dataset": "{dataset}", "figure": "light curve {target}"},
        ),
    log:
        "logs/{dataset}/make_light_curve/{target}.log",
    benchmark:
        "benchmarks/{dataset}/make_light_curve/{target}.tsv"
    conda:
        "../../envs/stackphot.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(4),
        runtime=runtime(0.2, n_frames="all"),
    params:
        target=light_curve_target,
        colour_bands=light_curve_colour_bands,
        lightcurve=setting_keys(
            "lightcurve",
            "targets",
            "comparisons",
            "checks",
            "max_comparisons",
            "match_radius",
            "detrend",
            "bin_minutes",
            "use_fwhm_radius",
            "choose_aperture",
            "radii",
            "fwhm_radii",
        ),
    script:
        "../../scripts/make_light_curve.py"


rule lightcurve:
    """Stage target (`snakemake lightcurve`): every dataset's per-frame photometry, variability search and light curves."""
    input:
        stage_products("lightcurve"),
