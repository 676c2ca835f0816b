"""The operating surface of a running dtms: HTTP API, metrics, dashboard, alerts, service.

Everything here *uses* the runtime (``dtms.runtime.app.App``) and is optional; nothing in the
runtime knows it exists. Entry points: :func:`dtms.ops.surfaces.prepare` (validate, bind) before
Trio starts, and :func:`dtms.ops.surfaces.run` next to ``serve`` in the same nursery.
"""
