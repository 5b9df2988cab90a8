"""Landing zone → raw layer: listing, reading, parsing, quarantine, staging and merge."""
