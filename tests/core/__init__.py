"""Tests of app.core: settings, the database (pool line, transactions), migrations, the runtime."""
