"""cronflow's built-in plugins: retry policies, notifiers and triggers.

Each module is registered by ``cronflow.plugins.get_plugin_manager`` exactly like a
third-party plugin, through the public hooks in ``cronflow.hookspecs``.
"""
