"""Claims analytics (seed 000): processed state, daily marts, checks."""
