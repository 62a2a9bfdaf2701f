"""The Dramatiq worker: broker, actors, outbox relay, runners and dead-letter tools."""
