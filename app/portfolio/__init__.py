"""The portfolio: a user's active holdings, grouped by symbol and valued (above users and stocks)."""
