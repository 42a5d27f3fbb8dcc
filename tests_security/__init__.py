"""gonogo security checks."""
