"""What everything stands on: settings, the database, migrations, the embedded PostgreSQL, the worker's runtime.

- `config.py`: `Settings`, every knob from the environment and .env, validated once.
- `database.py`: the engine, sessions, transactions and the connection line; the session dependencies.
- `migrations.py`: Alembic, applied by one instance at a time; new revisions.
- `embedded_postgres.py`: the PostgreSQL `make run` and `make test` start when no DATABASE_URL is set.
- `runtime.py`: what each worker does once started (the garbage collector's frozen heap).
"""
