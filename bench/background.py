"""Sky estimation of one frame: CPU seconds of stackphot.background.estimate_background with the default settings,
and of the defect map's search for spikes in it (stackphot.defects.spikes, what find_defects does per frame).

    python bench/background.py [SIZE]

Simulates one SIZE x SIZE frame (default 2048) as `make bench` does, ingests it, and times
estimate_background (mesh, source mask, row destriping: config.yaml's background section) five times after
a first call on a corner, printing each run's CPU time and their median, and the sky's and RMS's medians; then
spikes five times.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from stackphot.background import estimate_background
from stackphot.defects import spikes
from stackphot.ingest import ingest_frame
from stackphot.io import read_raw_frame
from stackphot.simulate import SimulationConfig, simulate_frame_set, write_frame_set

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from run_bench import FrameSetSpec  # noqa: E402  (the harness's frame sets)


def main(size: int = 2048, repeats: int = 5) -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    ingest, background = config["ingest"], config["background"]
    with tempfile.TemporaryDirectory() as folder:
        frame_set = simulate_frame_set(SimulationConfig.from_mapping(FrameSetSpec(1, size).simulation()))
        raw = read_raw_frame(write_frame_set(frame_set, folder)[0])
    frame = ingest_frame(raw, gain=ingest["gain"], read_noise=ingest["read_noise"], saturation=ingest["saturation"])
    options = dict(method=background["method"], box_size=background["box_size"], filter_size=background["filter_size"],
                   sigma=background["sigma"], destripe_rows=background["destripe"])
    estimate_background(frame.data[:256, :256], **options)  # imports and first calls, not timed
    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        sky = estimate_background(frame.data, mask=frame.mask > 0, **options)
        seconds.append(time.process_time() - start)
    print(f"one {size} x {size} frame, {sky.describe()}")
    print(f"CPU s per run: {', '.join(f'{s:.2f}' for s in seconds)}; median {np.median(seconds):.2f}")
    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        found = spikes(frame.data, frame.error, mask=frame.mask, nsigma=background["defects"]["nsigma"])
        seconds.append(time.process_time() - start)
    print(f"the defect map's spikes ({int(found.sum())} in this frame), CPU s per run: "
          f"{', '.join(f'{s:.2f}' for s in seconds)}; median {np.median(seconds):.2f}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
