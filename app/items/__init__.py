"""The example resource: CRUD over `items`, with paging and a unique name.

`router` is what app/main.py includes. Its README.md describes it; deleting this folder,
tests/items/ and its lines in app/main.py removes it.
"""

from app.items.router import router

__all__ = ["router"]
