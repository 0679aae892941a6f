"""imgrec.tasks."""
