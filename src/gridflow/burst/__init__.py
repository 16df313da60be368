"""Burst execution: one engine task runs every instance of a fan-out concurrently."""
