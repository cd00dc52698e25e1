"""Test support: servers, example factories and HTTP helpers."""
