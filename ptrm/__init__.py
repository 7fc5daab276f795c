"""ptrm: probabilistic test-time search over Tiny Recursive Models."""

__version__ = "0.1.0"
