"""A deliberately broken plugin: importing it fails, and the platform must carry on."""

raise ImportError("this example plugin is broken on purpose")
