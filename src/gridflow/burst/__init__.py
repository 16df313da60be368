"""Bursts: a fan-out of thousands of instances run as one task (SPEC §1 load-test mode)."""
