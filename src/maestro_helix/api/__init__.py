"""The HTTP API and the escalation web UI over a running :class:`~maestro_helix.Maestro`.

``create_app(system)`` builds the ASGI app; ``serve(system, host, port)`` runs it (loopback only
unless told otherwise) together with the housekeeping that expires requests and resumes runs.
"""

from maestro_helix.api.app import create_app
from maestro_helix.api.server import serve

__all__ = ["create_app", "serve"]
