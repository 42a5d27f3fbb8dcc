"""gonogo dataops checks."""
