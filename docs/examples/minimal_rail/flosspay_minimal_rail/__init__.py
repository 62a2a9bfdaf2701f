"""A minimal FlossPay rail: pay from a demo account through the sandbox PSP in ``sandbox.py``."""
