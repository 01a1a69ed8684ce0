"""Tests of app.stocks: stocks' endpoints, validation, PATCH and symbols."""
