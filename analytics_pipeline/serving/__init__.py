"""Serving: the warehouse views, the SQL runner."""
