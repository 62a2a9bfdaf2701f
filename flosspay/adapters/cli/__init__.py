"""The ``flosspay`` command line."""
