"""Database fixtures shared by integration and end-to-end tests (a pytest plugin module)."""
