"""Tests of app.users: users' endpoints, validation and name rules."""
