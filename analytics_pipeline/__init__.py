"""analytics_pipeline: an analytics lake for AI products (Dagster, DuckDB, Parquet).

``from analytics_pipeline import Warehouse`` gives the warehouse's views to Python (see ``serving/notebook.py``);
it is imported on first use, so importing the package stays light.
"""

__all__ = ["Warehouse"]


def __getattr__(name: str):
    if name == "Warehouse":
        from analytics_pipeline.serving.notebook import Warehouse

        return Warehouse
    raise AttributeError(f"module 'analytics_pipeline' has no attribute {name!r}")
