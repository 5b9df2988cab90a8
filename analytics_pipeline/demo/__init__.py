"""Synthetic demo data for the analytics lake."""
