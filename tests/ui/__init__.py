"""Browser tests of the management UI."""
