"""The suite file and the skill: YAML with lines, the SKILL.md document, checks, trigger sets, user files, check isolation.

May import: models and the base modules.
"""
