"""What every resource builds on: field types, the repository base, scopes, keyset paging, the domain errors.

Nothing here knows HTTP or a resource; every resource and the HTTP plumbing import it.

- `fields.py`: the Schema base, the shared field types (Email, Password, Money, Flag...), column helpers.
- `errors.py`: `AppError`, the base of every domain error, and the shared ones (NotFound, VersionMismatch...).
- `repository.py`: the Repository base: one statement per write, If-Match in the WHERE, paged lists.
- `scope.py`: which rows a caller may reach (`Scope`), in every statement's WHERE.
- `keyset.py`: pages, sort orders and cursors, and the SQL that walks them.
"""
