"""FinSent: streaming financial-sentiment monitoring."""

__version__ = "0.1.0"
