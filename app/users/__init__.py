"""Users: people who hold stocks.

`models.py` the table and schemas, `repository.py` every statement on `users`,
`service.py` the account rules (sign-up, admin rights, passwords),
`dependencies.py` what routes declare, `routes.py` /users/ and a user's holdings.
"""
