"""The revisions of the service's schema (one file each, oldest first)."""
