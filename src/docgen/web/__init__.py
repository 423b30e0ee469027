"""The verification website: the QR code's page, upload-and-verify, and a JSON API.

``docgen serve`` runs it on its own (uvicorn); a portal mounts :func:`create_app`'s application
in its own ASGI application. See :mod:`docgen.web.app` for the routes.

Example::

    from docgen.config import Settings
    from docgen.web import create_app
    app = create_app(Settings.load())       # then: uvicorn, or portal.mount("/v", app)
"""

from docgen.web.app import API_VERSION, create_app

__all__ = ["API_VERSION", "create_app"]
