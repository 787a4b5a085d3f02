pytest_plugins = ["mock_backends.pytest_fixtures"]
