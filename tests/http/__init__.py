"""Tests of app.http: how the API answers over HTTP (errors and 503s, strict input, limits, ETags, docs, the log)."""
