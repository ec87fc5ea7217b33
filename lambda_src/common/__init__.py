"""Code shared by the three handlers (packaged in the same asset)."""
