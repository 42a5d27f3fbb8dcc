"""gonogo slo checks."""
