"""Stocks: holdings, and the portfolio they add up to.

`repository.py` holds every statement on `stocks`; `routes.py` the endpoints.
"""
