"""imgrec.evaluation."""
