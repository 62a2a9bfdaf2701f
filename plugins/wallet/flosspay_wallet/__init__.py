"""FlossPay's wallet rail: pay from a mobile wallet through its provider, plus a sandbox provider with balances."""

__version__ = "0.1.0"
