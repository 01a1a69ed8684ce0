"""Tests of app.web: the web app's pages, through the ASGI client, fuzzed, and in Chromium."""
