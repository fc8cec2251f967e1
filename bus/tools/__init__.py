"""Developer tooling beside the runtime: the ``bus`` command line, graphs, AsyncAPI
documents, contract compatibility checks, scaffolding and the trace viewer.

The runtime never imports this package (``make lint`` checks it with import-linter).
"""
