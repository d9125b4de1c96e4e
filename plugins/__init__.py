"""mustelid.plugins: every built-in task, backend and engine.

Each module here is registered through the ``mustelid`` entry-point group in pyproject.toml,
exactly like a third-party plugin, and can be excluded with ``MUSTELID_LOAD_PLUGINS``.
"""
