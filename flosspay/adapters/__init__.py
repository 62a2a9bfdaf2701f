"""Everything that touches the world: HTTP, worker, persistence, CLI, configuration, wiring."""
