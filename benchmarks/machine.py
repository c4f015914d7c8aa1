"""The machine line every benchmark prints, so README figures say where they were measured."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """Cores, CPU model, RAM, Python and numpy versions, e.g.
    ``2 cores (Intel(R) Xeon(R) Processor), 24 GB RAM, Python 3.11.7, numpy 2.4.6``."""
    import numpy

    cpu = platform.processor() or platform.machine() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, Python {platform.python_version()}, "
        f"numpy {numpy.__version__}"
    )
