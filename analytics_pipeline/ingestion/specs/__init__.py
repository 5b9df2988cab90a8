"""Per-source parsing specs: how a landing record becomes a typed raw row or a quarantine reason."""
