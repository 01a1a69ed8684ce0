"""Stocks: holdings, each owned by one user.

`models.py` the table and schemas, `repository.py` every statement on `stocks`,
`dependencies.py` what routes declare (id, repository, filters), `routes.py` /stocks/.
"""
