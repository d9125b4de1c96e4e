"""Prompt templates shipped with mustelid (package data; see mustelid.prompts module docs in
daemon/prompts.py). This __init__ exists so importlib.resources works in editable installs."""
