"""Support code of the GUI end-to-end tests (standard library only)."""
