"""Pixel edits, the rollback journal, shapes and de-identification."""
