"""imgrec.models."""
