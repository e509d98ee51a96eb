"""The vendor API dialects: each package translates one vendor's documented API onto the job
service, so that client code written for that vendor works against genq by changing its base
URL and key. ``registry.DIALECTS`` lists them; their names are the keys of the ``[dialects]``
settings.

This package imports nothing: the settings read the registry without loading any routes."""
