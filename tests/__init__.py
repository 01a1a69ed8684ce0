"""The tests mirror app/: the test for a behaviour sits in the folder of the package whose code does it.

tests/users/, stocks/, portfolio/, auth/, web/, ops/, http/, kit/, core/ and cli/ test
app/'s package of the same name (stocks' rules in tests/stocks/, sign-in in tests/auth/).
tests/whole_api/ holds what belongs to no one package: the API as a client or an operator
meets it end to end (the guide's flow, the README and the tutorial replayed, the access matrix over every
operation, the OpenAPI, fuzzing, statements per request, concurrency, deploy, several
instances, scaling, faults). A test file that mixes packages sits where most of it belongs.

Shared by all, here at the root: conftest.py (the database and clients), helpers.py,
processes.py (starting `python -m app`) and scratch.py (throwaway databases).
"""
