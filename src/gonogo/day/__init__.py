"""The cutover day: its timeline and steps (cutover), the route in front of blue and green
(edge), the rollback macro (rollback) and the war room's messages (comms)."""
