"""Webhook delivery: SSRF-safe resolution, the httpx sender and the background delivery loop."""
