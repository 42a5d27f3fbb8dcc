"""The local reference environment: a real IntelGraph stand-in with switchable faults.

`Stack` starts real servers (tansu for Kafka, FalkorDB for the graph,
PostgreSQL, optionally Prometheus) and the gateway app as child processes on
free loopback ports; `faults` names what can be made to go wrong.
"""
