"""An example third-party diffim plugin, installed by pip, used by name."""
