"""The genq client: ``Client`` and ``AsyncClient`` for a genq server's native API.

It needs only httpx and httpx-sse, not the server's packages::

    import genq

    with genq.Client() as client:
        job = client.run("demo-image", {"prompt": "a lighthouse at dusk"})
        client.download(job, "out")

A ``pathlib.Path`` input value sends a local file (``{"audio": Path("speech.wav")}``), and
``client.output_text(job)`` reads a text output (a transcript, a caption).

``client.webhooks`` registers the account's webhook endpoints and lists the calls made for
its jobs; ``genq.webhooks.verify`` checks the signature of one such call.
"""

from genq.client._async import AsyncClient, AsyncJobHandle
from genq.client._errors import (
    APIError,
    AuthenticationError,
    ChecksumMismatch,
    Conflict,
    GenqError,
    InsufficientCredits,
    JobCanceled,
    JobError,
    JobExpired,
    JobFailed,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
    ValidationError,
)
from genq.client._sync import Client, JobHandle
from genq.client._types import (
    Event,
    Job,
    JobErrorInfo,
    JobStatus,
    ModelInfo,
    Origin,
    Output,
    Progress,
    Webhook,
    WebhookDelivery,
)

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncJobHandle",
    "AuthenticationError",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "Event",
    "GenqError",
    "InsufficientCredits",
    "Job",
    "JobCanceled",
    "JobError",
    "JobErrorInfo",
    "JobExpired",
    "JobFailed",
    "JobHandle",
    "JobStatus",
    "ModelInfo",
    "NotFound",
    "Origin",
    "Output",
    "PermissionDenied",
    "Progress",
    "ProtocolError",
    "RateLimited",
    "ServerError",
    "Timeout",
    "TransportError",
    "ValidationError",
    "Webhook",
    "WebhookDelivery",
]

# The receiver's side of webhooks, a module of its own: genq.webhooks.verify(...).
from genq import webhooks as webhooks

# The names belong to this package: reprs and tracebacks show genq.client.Job, not the
# private module that defines it.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
