"""Rules simulate_<dataset>: a synthetic frame set and its truth, from a spec file."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from stackphot.scripting import run_script
from stackphot.simulate import SimulationConfig, simulate_frame_set, write_frame_set

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    config = SimulationConfig.from_mapping(yaml.safe_load(Path(smk.input.spec).read_text()) or {})
    frame_set = simulate_frame_set(config)
    written = write_frame_set(frame_set, Path(smk.output.shifts).parent, overwrite=True)
    log.info("simulated %d frames of shape %s with seed %d", config.n_frames, config.shape, config.seed)
    log.info("written: %s", ", ".join(path.name for path in written))


if __name__ == "__main__":
    run_script(main, snakemake)
