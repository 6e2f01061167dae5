"""Imported by the scan workers' fork server only: the offline engine, built once for all of them.

Every worker is forked from that server, so an engine built there before the first fork is
shared by all of them, page by page, until one writes to a page (copy on write) instead of
built by each one on its first chunk. Only the default engine (model None: a blank spaCy
pipeline) is built here: the server (one per process, started with the first pool) can only
import modules, so a worker still builds its own engine for a named spaCy model.
"""

from __future__ import annotations

import gc
import logging

from anonymiser.maskers._engine import analyzer

__all__: list[str] = []

try:
    analyzer(None)
except Exception as exc:  # a worker builds its own then, and fails there with a clear error
    logging.getLogger(__name__).warning("Presidio engine not built ahead of the workers: %s", exc)
# A full collection walks every object and writes to its header, which copies each page a
# worker shares with this server: what is here now stays out of the collector's way.
gc.collect()
gc.freeze()
