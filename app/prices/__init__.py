"""Market prices: each symbol's closing price by date, one table shared by every user (a reference table).

`models.py` the table and schemas, `repository.py` every statement on `prices`,
`service.py` reading a quote site's CSV (and `PriceSource`, the shape of any
other provider), `dependencies.py` what routes declare, `routes.py` /prices/.
It imports only auth and the shared parts: valuation, above it and stocks, will
read both.
"""
