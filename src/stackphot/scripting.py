"""What every rule script shares: logging to the rule's log file and clear failures."""

from __future__ import annotations

import sys

from stackphot.io import log_to

# Errors that describe a problem with the user's data or configuration: shown as one clear line.
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, PermissionError)


def run_script(main, smk) -> None:
    """Run ``main(smk, log)`` with a logger on the rule's log; data errors end the job with one clear line."""
    log = log_to(smk.log[0])
    try:
        main(smk, log)
    except USER_ERRORS as error:
        log.error("%s", error)
        log.debug("details", exc_info=True)
        sys.exit(1)
    except Exception:
        log.exception("unexpected failure (a bug in stackphot: please report it with this log)")
        raise
