"""Clients for each IntelGraph component, created lazily by `gonogo.env.Environment`.

Every client takes its timeout from the env, turns transport failures into
`gonogo.errors.Unreachable` (URL, limit, cause), and reads secrets only at
the moment of use.
"""
