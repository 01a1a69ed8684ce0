"""The whole API end to end, no one package's: the guide, the README and the docs, the access matrix, the OpenAPI,
fuzzing, statements per request, concurrency, deploy, several instances, scaling, faults.
"""
