"""Accounts: passwords, tokens, who the caller is and what they may reach.

auth sits below users (users' service hashes passwords and ends logins with
what is here), so nothing in it imports app/users/.

- `models.py`: the refresh-token, login-failure and sign-up tables; the /auth bodies.
- `passwords.py`: argon2id hashing, off the event loop and capped in number.
- `tokens.py`: signed access tokens (JWT) and opaque refresh tokens.
- `access.py`: the caller of a request and the rows they may reach (the dependencies routes use).
- `repository.py`: every statement of accounts: a user's sign-in details, refresh tokens, login attempts.
- `service.py`: signing in, refreshing and signing out; the throttles.
- `pruning.py`: what housekeeping deletes of the tables above.
- `dependencies.py`, `routes.py`: /auth/token, /auth/refresh, /auth/logout.
"""
