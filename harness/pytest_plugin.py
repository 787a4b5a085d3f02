"""pytest plugin (registered through the pytest11 entry point): scenario files as tests,
fixtures for targets, clients and mock backends."""
