"""The ledger: each holding's transactions (buys, sells, splits, dividends, fees, adjustments), part of stocks.

A holding (a row of `stocks`) always equals its ledger replayed in order
(docs/reference/ledger.md has the conventions): `rules.py` is the one implementation of
the formulas, used by every write and by the replay; `models.py` the
`transactions` table and its schemas; `repository.py` every statement on it
(and the holding row it locks and moves); `service.py` a ledger write in one
database transaction; `dependencies.py` and `routes.py` /stocks/{id}/transactions
and /transactions/{id}. The stock's own writes (a new holding's opening buy, the
adjustment a PUT or PATCH records) are in app/stocks/repository.py, one statement each.
It imports nothing from the rest of stocks but `models.py`, so stocks may import it.
"""
