"""prosody-harness: conformance scenarios and mock backends for HTTP-speaking Prosody modules."""

__version__ = "0.1.0"
