"""Media-monitoring alert daemon: fetch → parse → normalise → store → match → digest → deliver."""

__version__ = "0.1.0"
