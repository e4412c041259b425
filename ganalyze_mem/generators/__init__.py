"""Generators: latents (z, y) -> images in [0, 1]. See `base.Generator` for the contract."""

from ..registry import Registry

GENERATORS = Registry("generator")

_BIGGAN = "ganalyze_mem.generators.biggan:biggan"
for _res in (128, 256, 512):
    GENERATORS.add(f"biggan-deep-{_res}", _BIGGAN, name=f"biggan-deep-{_res}",
                   help=f"BigGAN-deep {_res}px, ImageNet classes (pytorch-pretrained-biggan weights)",
                   weights="ganalyze_mem.weight_specs:biggan_spec")
GENERATORS.add("tiny", _BIGGAN, name="tiny", tiny=True,
               help="BigGAN-deep architecture, 64 px and narrow, fixed random init: for tests and CPU runs")
GENERATORS.add("collage", "ganalyze_mem.generators.collage:collage", tiny=True,
               help="object cutouts on background photos (bundled demo data), 64 px, known latent factors")
GENERATORS.add("photoedit", "ganalyze_mem.generators.photoedit:photoedit", tiny=True,
               help="global photographic edits (exposure, contrast, colour, ...) of real photos: the bundled demo "
                    "photos, or yours with --generator-weights FOLDER; 128 px")
GENERATORS.add("photoedit-64", "ganalyze_mem.generators.photoedit:photoedit", tiny=True, resolution=64,
               name="photoedit-64", help="photoedit at 64 px: for CPU runs (the demo's generator)")
