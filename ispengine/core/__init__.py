"""The core model.

Parameters and settings, stages, specs, pipelines, the registry, the plugin
host, hook specifications, CFA geometry and errors. Imports no plugin.
"""
