"""Tests of app.portfolio: positions by symbol, exact money."""
