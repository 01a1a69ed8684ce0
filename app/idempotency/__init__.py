"""Idempotent POSTs: a client's `Idempotency-Key` makes a retried create answer what the first one did (Stripe's rules).

It sits above auth (the key belongs to the caller it names) and below the
resources whose creating POSTs opt in, each with one line,
`dependencies=[IDEMPOTENT]` (`dependencies.py`). `models.py` the table of
keys and their stored answers, `repository.py` every statement on it,
`dependencies.py` the claim a request makes before its handler runs,
`middleware.py` what keeps or releases that claim once the answer is known,
`pruning.py` the housekeeping job that deletes expired keys. What is stored,
for whom and for how long: docs/reference/idempotency.md.
"""
