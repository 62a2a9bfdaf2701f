"""Use cases, one module each, written against the domain's ports only."""
