# Gate B: every image a rendered manifest runs is pinned by digest.
#
# input.documents: the Kubernetes objects of `helm template` output (every document).
# A reference pinned by digest ends in "@sha256:" and 64 hex characters;
# "name:tag@sha256:..." counts as pinned (the digest is what the runtime pulls).
# A `deny` entry is an object naming what to fix (gonogo prints it), or a string.
# Add a .rego file in package gonogo.manifests with more `deny` rules: it runs too.
package gonogo.manifests

import rego.v1

pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.template.spec if {
	obj.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
}

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

pinned(image) if regex.match(`@sha256:[a-f0-9]{64}$`, image)

deny contains {
	"object": concat("/", [obj.kind, obj.metadata.name]),
	"container": container.name,
	"in": list,
	"image": container.image,
	"problem": "not pinned by @sha256 digest",
} if {
	some obj in input.documents
	spec := pod_spec(obj)
	some list in ["containers", "initContainers", "ephemeralContainers"]
	some container in spec[list]
	not pinned(container.image)
}
