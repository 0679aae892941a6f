"""imgrec.data."""
