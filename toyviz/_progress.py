"""The progress bar of toyviz's long loops (all masks, chunks of an exact landscape)."""

import sys

from tqdm.auto import tqdm

from toyviz._checks import describe


def progress_bar(total, progress, desc):
    """A tqdm bar of ``total`` steps labelled ``desc``: shown when ``progress`` is True,
    never when False, and when None only on a terminal (so notebooks run under nbval and
    the book build stay silent). Refuses any other ``progress`` with a TypeError."""
    if not (progress is None or progress is True or progress is False):
        raise TypeError(f"progress must be True, False or None, got {describe(progress)}")
    if progress is None:
        # tqdm's own "None" rule does not apply to its notebook bar, so decide here.
        stream = sys.stderr
        progress = bool(getattr(stream, "isatty", lambda: False)())
    return tqdm(total=total, desc=desc, disable=not progress, leave=False)
