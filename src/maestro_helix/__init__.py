"""Maestro + Helix."""
