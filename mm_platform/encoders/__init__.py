"""Encoders behind one interface per role, registered through entry points."""
