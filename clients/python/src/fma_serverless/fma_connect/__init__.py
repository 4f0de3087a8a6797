"""FMA's Python client, `fma_connect`, on fma-serverless: change one import and an FMA client
script runs as it did, with retries, idempotent updates and large models as bytes.

    from fma_serverless.fma_connect import WebClient   # was: from fma_connect import WebClient
"""

from . import exceptions, settings
from .clients import WebClient
from .exceptions import APIException

__all__ = ["APIException", "WebClient", "exceptions", "settings"]
