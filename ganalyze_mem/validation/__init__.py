"""Validation studies of Han et al., "What Images are More Memorable to Machines?" (sections 5.1, 5.2, 6; appendices
E, F, H). Each study takes any image set and a score source (an assessor, a CSV of scores, or the MachineMem
measurer; see `scoring.make_scorer`) and writes a report folder outputs/reports/<NNNNN>-<study>/ with report.md, a
self-contained report.html, tables as CSV and figures as PNG.

    from ganalyze_mem.validation.scoring import make_scorer
    from ganalyze_mem.validation.shapes import ShapesConfig, run_shapes
    folder = run_shapes(make_scorer(assessor="resnet50"), ShapesConfig(per_set=25))

Defaults of every study live in `config` (shared with ``ganalyze-mem validate``).
"""

# study name (as on the command line) -> "module:function" of its Python entry point
STUDIES: dict[str, str] = {
    "shapes": "ganalyze_mem.validation.shapes:run_shapes",
    "nerf-views": "ganalyze_mem.validation.nerf_views:run_nerf_views",
    "food": "ganalyze_mem.validation.food:run_food",
    "attributes": "ganalyze_mem.validation.attributes:run_attributes",
    "machines": "ganalyze_mem.validation.cross_machines:run_machines",
    "classes": "ganalyze_mem.validation.classes:run_classes",
}
