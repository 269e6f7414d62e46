"""The package's version, for the modules that stamp it into what they write."""

__version__ = "0.1.0"
