"""The bottom layer: what every other module may use, importing nothing of ours above it (only `ganalyze_mem.errors`).

- `devices`: checking a device name, the one device resolution (`pick_device`) and the one autocast helper.
- `files`: atomic writes (`atomic_path` and friends), the process umask, YAML/JSON-safe conversion.
- `paths`: the source checkout (`repo_root`) and file names as CSV text.

`tests/test_import_graph.py` holds it to that, and checks that importing it loads no torch.
"""
