"""Operating the service: health probes, metrics, background housekeeping, backups.

- `health.py`: GET /, /health/live, /health/ready.
- `metrics.py`: GET /metrics (Prometheus), across workers.
- `housekeeping.py`: the background loop; the job it runs is handed to it (auth's pruning).
- `backup.py`: pg_dump / pg_restore of the database to one file.
"""
