"""Python client for fma-serverless: Federated Model Aggregation on AWS Lambda and MongoDB.

- `FmaClient`: a federated client (register, send updates as JSON or bytes, read aggregates and
  the latest model as numpy arrays, send scores, read the published artifact).
- `fma_serverless.fma_connect`: FMA's `fma_connect.WebClient`, same methods and arguments.
- `fma_serverless.encodings`: float16, bfloat16 and blockwise int8 updates, and `ErrorFeedback`.
- `fma_serverless.frameworks`: PyTorch state dicts and Keras weights <-> layers.
- `fma_serverless.secure_aggregation`: secure aggregation (fma-secagg/v1): `FmaClient.secure_round`,
  `SecureRoundParticipant` (a stage per method) and the protocol's primitives.
"""

from .client import FmaClient
from .encodings import ErrorFeedback
from .errors import FmaApiError, FmaError, FmaIntegrityError, FmaTransportError, SecureRoundError
from .results import Aggregate, Artifact, LatestModel

__version__ = "0.1.0"

__all__ = [
    "Aggregate",
    "Artifact",
    "ErrorFeedback",
    "FmaApiError",
    "FmaClient",
    "FmaError",
    "FmaIntegrityError",
    "FmaTransportError",
    "LatestModel",
    "SecureRoundError",
    "__version__",
]
