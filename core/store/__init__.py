"""The local store: SQLite and content-addressed files."""
