"""Subset datasets: root filters (filters.py) and their referential closure in SQL (closure.py)."""
