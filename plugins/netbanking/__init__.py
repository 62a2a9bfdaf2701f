"""Makes ``plugins/netbanking`` a package for pytest only, so its tests import as ``netbanking.tests.*``.

Every rail has a ``tests/test_conformance.py``; without distinct package names pytest's default
import mode would load them all as one module ``test_conformance``. Not part of the distribution.
"""
