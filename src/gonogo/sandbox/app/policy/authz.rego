# The IntelGraph sandbox gateway's ABAC policy, as OPA would hold it: the gateway asks
# data.intelgraph.authz.allow for every /api/secure/{resource} request, and gonogo's
# security pack asks the same policy what each role should get. Same meaning as abac.json.
package intelgraph.authz

import rego.v1

default allow := false

resources := {
	"allowed": {"roles": {"analyst", "admin"}, "require": {}},
	"denied": {"roles": {"admin"}, "require": {"clearance": "ts-sci"}},
	"notes:write": {"roles": {"analyst", "admin"}, "require": {}},
	"admin": {"roles": {"admin"}, "require": {}},
}

allow if {
	rule := resources[input.resource]
	some role in input.claims.roles
	role in rule.roles
	every key, value in rule.require {
		input.claims[key] == value
	}
}
