"""Lake operations: retention per layer and source, small-file compaction, freshness per source."""
