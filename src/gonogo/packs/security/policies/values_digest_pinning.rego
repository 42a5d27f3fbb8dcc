# Gate B: every image block in the chart's values is pinned by digest, with no tag.
#
# input: the values tree. An image block is an object with a `repository` string and a
# tag, digest or registry key (the Helm/Bitnami split form {registry, repository, tag,
# digest}; a git repository URL beside other keys is not one). It must carry a
# sha256 digest and an empty tag, so the digest alone decides what runs.
package gonogo.values

import rego.v1

image_blocks contains [path, block] if {
	walk(input, [path, block])
	is_object(block)
	is_string(block.repository)
	has_image_key(block)
}

has_image_key(block) if {
	some key in ["tag", "digest", "registry"]
	_ = block[key]
}

deny contains {
	"path": path,
	"repository": block.repository,
	"digest": object.get(block, "digest", null),
	"problem": "no sha256 digest",
} if {
	some [path, block] in image_blocks
	not regex.match(`^sha256:[a-f0-9]{64}$`, object.get(block, "digest", ""))
}

deny contains {
	"path": path,
	"repository": block.repository,
	"tag": block.tag,
	"problem": "a tag beside the digest (the tag must be empty)",
} if {
	some [path, block] in image_blocks
	object.get(block, "tag", "") != ""
}
