"""The ``rest`` path parameter: the rest of the path, whatever characters it holds.

Starlette's own ``path`` parameter is ``.*``, which stops at a newline: a name holding an
encoded newline (``%0A``) matched no route, so the router answered 404 in the native shape
on a vendor dialect's path. With ``{name:rest}`` the route gets the request and answers in
its own API's shape (a model of that name is not found).
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class RestConvertor(Convertor[str]):
    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("rest", RestConvertor())
