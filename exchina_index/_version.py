"""The package version, defined once (read by hatchling for the wheel and by the package)."""

__version__ = "0.1.0"
