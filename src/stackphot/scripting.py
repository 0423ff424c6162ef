"""What every rule script shares: logging to the rule's log file and clear failures."""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path

from stackphot.io import DiskFullError, log_to

# Errors that describe a problem with the user's data, configuration or disk: shown as one clear line.
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, PermissionError, DiskFullError)


def run_script(main, smk) -> None:
    """Run ``main(smk, log)`` with a logger on the rule's log; data errors end the job with one clear line.

    The log's last line says what the job used (``job used ... s CPU``): exact figures, unlike the samples of
    Snakemake's ``benchmark:`` files, for choosing a rule's cluster resources.
    """
    log = log_to(smk.log[0])
    try:
        main(smk, log)
        log.info("job used %.2f s CPU (user + sys), peak memory %.0f MB", *process_usage())
    except USER_ERRORS as error:
        log.error("%s", error)
        log.debug("details", exc_info=True)
        sys.exit(1)
    except Exception:
        log.exception("unexpected failure (a bug in stackphot: please report it with this log)")
        raise


def process_usage() -> tuple[float, float]:
    """This process's CPU time so far (s, user + sys) and its peak resident memory (MB, file pages included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    status = Path("/proc/self/status")
    # Linux's VmHWM; elsewhere ru_maxrss, which macOS gives in bytes.
    peak = re.search(r"VmHWM:\s*(\d+) kB", status.read_text()) if status.is_file() else None
    peak_kb = int(peak[1]) if peak else usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)
    return usage.ru_utime + usage.ru_stime, peak_kb / 1024
