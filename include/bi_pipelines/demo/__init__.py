"""Sample sources for the local demo and the end-to-end tests."""
