"""The built-in plugins of ispengine, each registered through an entry point."""
