"""Tests of app.ops: health probes, metrics, housekeeping, backup and restore."""
