"""Tests of app.cli: the command line, make run, serve, demo, create-admin."""
