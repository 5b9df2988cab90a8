"""Storage of the lake: local folder or S3 prefix, atomic Parquet writes, DuckDB connections."""
