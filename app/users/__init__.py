"""Users: people who hold stocks.

`repository.py` holds every statement on `users`; `routes.py` the endpoints.
"""
