"""FlossPay: a free, self-hostable payments aggregator."""

__version__ = "0.1.0"
