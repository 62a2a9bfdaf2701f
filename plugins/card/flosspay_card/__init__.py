"""FlossPay's card rail: card payments through a PSP that tokenises the card number, plus a sandbox PSP.

The card number (PAN) is exchanged for the PSP's token in ``prepare`` and never stored, logged or
returned by FlossPay; the CVV goes to the PSP once, for tokenisation, and is kept nowhere.
"""

__version__ = "0.1.0"
