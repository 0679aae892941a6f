"""imgrec.engine."""
