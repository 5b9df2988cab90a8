"""analytics_pipeline."""
