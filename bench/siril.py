"""Siril on the bench's frames (issue 22), where ``siril-cli`` is installed: convert, register and stack by a script.

The script (``siril_script``) converts the folder's frames into a Siril sequence in OUT_DIR (the frames folder is
only read), registers it (Siril's default star-pattern registration, or ``--two-pass``) and stacks the registered
sequence as a sigma-clipped mean (``rej s 3 3``, the recipe's rejection) with additive-scale normalisation. Siril
uses ``--cores`` threads (``setcpu``), as the workflow is given its cores. Its wall time and the CPU time of
siril-cli and what it started (``getrusage(RUSAGE_CHILDREN)``, before and after) go to ``siril.json``.

Siril 1.0 (Debian 12's ``apt-get install siril``) applies its star alignment to the pixels and keeps no transform,
so where the frames carry the simulator's truth, how well Siril registered them is read off the stars of its
registered frames (bench/star_offsets.py, the measure run_bench.py also takes of the workflow's aligned frames):
``shift_error`` in ``siril.json``. Without siril-cli this prints one line and writes
``{"skipped": "siril-cli not found"}``; ``pytest tests/test_bench_plain.py -k siril_runs`` runs a small set through
it where it is installed.

    python bench/siril.py FRAMES OUT_DIR [--cores 2] [--two-pass]
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from astropy.io import fits

# Siril's commands and options as documented for 1.0 (requires, setcpu, convert -out=, register, stack rej s LOW HIGH
# -norm=addscale -output_norm -out=); register -2pass and seqapplyreg came with 1.2.
MINIMUM_VERSION = "1.0.0"
TWO_PASS_VERSION = "1.2.0"
SEQUENCE = "light"
SIGMA_LOW = SIGMA_HIGH = 3


def _quoted(argument: str) -> str:
    """A Siril argument with spaces is quoted as a whole (``"-out=a b"``, not ``-out="a b"``)."""
    return f'"{argument}"' if " " in argument else argument


def siril_script(out_dir, *, cores: int = 2, two_pass: bool = False) -> str:
    """The Siril script (.ssf) run in the frames folder: the stack lands in ``out_dir/stack.fit``."""
    out_dir = Path(out_dir).resolve()
    lines = [
        f"requires {TWO_PASS_VERSION if two_pass else MINIMUM_VERSION}",
        f"setcpu {cores}",
        f"convert {SEQUENCE} {_quoted(f'-out={out_dir}')}",
        f"cd {_quoted(str(out_dir))}",
        f"register {SEQUENCE} -2pass" if two_pass else f"register {SEQUENCE}",
        # With -2pass the registration is only computed; seqapplyreg writes the registered frames.
        *([f"seqapplyreg {SEQUENCE}"] if two_pass else []),
        f"stack r_{SEQUENCE} rej s {SIGMA_LOW} {SIGMA_HIGH} -norm=addscale -output_norm -out=stack",
    ]
    return "\n".join(lines) + "\n"


def run_siril(frames, out_dir, *, cores: int = 2, two_pass: bool = False) -> dict:
    """Run the script with siril-cli in ``frames``; its wall and CPU seconds, or why it was skipped."""
    executable = shutil.which("siril-cli")
    if executable is None:
        print("siril-cli not found: Siril's column skipped")
        return {"skipped": "siril-cli not found"}
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    script = out_dir / "script.ssf"
    script.write_text(siril_script(out_dir, cores=cores, two_pass=two_pass))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(out_dir / "siril.log", "w") as log:
        completed = subprocess.run([executable, "-d", str(Path(frames).resolve()), "-s", str(script)],
                                   stdout=log, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if completed.returncode != 0:
        sys.exit(f"siril-cli failed (exit {completed.returncode}); see {out_dir / 'siril.log'}")
    return {"wall": wall, "cpu": cpu, "cores": cores, "stack": str(out_dir / "stack.fit"), "script": str(script),
            **registration_error(frames, out_dir)}


def registration_error(frames, out_dir) -> dict:
    """How far Siril's registered frames lie from its reference, by their stars (``star_offsets``), against the
    simulator's truth in ``frames``: ``registered`` (how many of the frames Siril wrote registered) and
    ``shift_error`` (None without a truth table, or when Siril left a frame out: then its files no longer follow
    the frames' order)."""
    import star_offsets

    names = sorted(path for path in Path(frames).iterdir() if path.suffix in (".fits", ".fit", ".fts"))
    registered = sorted(Path(out_dir).glob(f"r_{SEQUENCE}_*.fit"))
    truth = Path(frames) / "truth_stars.csv"
    if not truth.is_file() or len(registered) != len(names):
        return {"registered": len(registered), "shift_error": None}
    # Siril's reference is its sequence's first image, the first frame in name order (the truth's own reference).
    shape = fits.getdata(registered[0]).shape
    places = star_offsets.reference_stars(truth, shape)
    distances = star_offsets.offsets(registered[1:], registered[0], places)
    return {"registered": len(registered), "shift_error": star_offsets.summary(distances)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("frames", type=Path, help="folder of FITS frames")
    parser.add_argument("out_dir", type=Path, help="receives siril.json, the sequence and the stack")
    parser.add_argument("--cores", type=int, default=2, help="Siril's threads (setcpu)")
    parser.add_argument("--two-pass", action="store_true", help="register -2pass (then seqapplyreg)")
    args = parser.parse_args(argv)
    result = run_siril(args.frames, args.out_dir, cores=args.cores, two_pass=args.two_pass)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "siril.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
