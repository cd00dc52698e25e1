"""The pure domain core shared by every service: no I/O, no clock, exact arithmetic."""
