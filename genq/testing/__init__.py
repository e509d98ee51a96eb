"""Tools for trying and testing genq without downloads: tiny random-weight pipelines saved
like real checkpoints (``tiny``)."""
