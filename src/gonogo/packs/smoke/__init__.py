"""gonogo smoke checks."""
