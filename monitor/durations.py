"""Human durations and sizes as written in the config and on the command line ("15m", "10MiB")."""

from __future__ import annotations

import math
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {None: 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2,
               "gb": 1000**3, "gib": 1024**3}


def parse_duration(value: str | int | float) -> float:
    """Return seconds for "90", 90, "15m", "1h30m", "7d" or "500ms".

    Raises ValueError with the accepted forms when the text is not a duration.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a duration like 15m, 2h or 7d, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):  # TOML's inf and nan
            raise ValueError(f"expected a duration like 15m, 2h or 7d, got {value!r}")
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    pos, total = 0, 0.0
    for part in _DURATION_PART.finditer(text):
        if text[pos:part.start()].strip():
            break
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2).lower()]
        pos = part.end()
    if pos == 0 or text[pos:].strip():
        raise ValueError(f"expected a duration like 15m, 2h or 7d, got {value!r}")
    return total


def parse_size(value: str | int) -> int:
    """Return bytes for 1048576, "512KiB", "10MiB" or "1GB"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"expected a size like 10MiB or 512KiB, got {value!r}")
    unit = match.group(2).lower() if match.group(2) else None
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def format_duration(seconds: float | None) -> str:
    """Short form for tables: 45s, 30m, 2h15m, 3d."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m" + (f"{seconds % 60}s" if seconds % 60 and seconds < 600 else "")
    if seconds < 86400:
        h, m = divmod(seconds // 60, 60)
        return f"{h}h{m}m" if m else f"{h}h"
    d, h = divmod(seconds // 3600, 24)
    return f"{d}d{h}h" if h else f"{d}d"
