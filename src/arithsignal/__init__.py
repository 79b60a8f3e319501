"""How the signal written into arithmetic training data changes how fast a small transformer converges."""

__version__ = "0.1.0"
