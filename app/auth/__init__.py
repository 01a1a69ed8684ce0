"""Accounts: passwords, tokens, who the caller is and what they may reach.

- `passwords.py`: argon2id hashing, off the event loop and capped in number.
- `tokens.py`: signed access tokens (JWT) and opaque refresh tokens.
- `access.py`: the caller of a request and the rows they may reach (the dependencies routes use).
- `repository.py`: every statement on refresh tokens and login attempts.
- `routes.py`: /auth/token, /auth/refresh, /auth/logout.
"""
