"""The checks gonogo ships: one folder per pack, collected by a gonogo run that names no paths.

Each folder is a pack and its name is the pack's marker (gonogo.vocabulary.PACKS); the
plugin marks every check under it. The packs hold checks only (a rule, its evidence, the
fault that turns it red): the machinery they call lives in the layers below. A team's own
checks live in its repo (`checks/`, from `gonogo init`) and use the same fixtures and markers.
"""
