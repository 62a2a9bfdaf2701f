"""FlossPay's UPI rail: pay and collect through a UPI PSP, plus a sandbox PSP that never moves money.

Submodules are imported on demand (``flosspay_upi.rail``, ``flosspay_upi.sandbox``) so that
``python -m flosspay_upi.sandbox`` starts without importing the rail or httpx.
"""

__version__ = "0.1.0"
