"""gonogo's own tests."""
