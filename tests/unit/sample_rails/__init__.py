"""Rail plugin modules for the loader's tests: one good, and one for each way a plugin can be broken."""
