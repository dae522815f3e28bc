"""The shared API kernel: what every app's API is built from.

The envelope and exception handler, middleware, negotiation, parsing, pagination, the base
viewset, the schema class, probes and the generic rate counting. It imports no app and no
configuration module (`apiproject.settings`, `urls`, `wsgi`); apps import it, and the
configuration names its classes in settings. `docs/architecture.md` has the map.
"""
