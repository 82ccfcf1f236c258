"""Node consoles, one module per kind, one protocol: :class:`~harness.consoles.base.Console`."""
