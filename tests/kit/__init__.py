"""Tests of app.kit: lists (filters, sorting, keyset cursors) and the schemas' base."""
