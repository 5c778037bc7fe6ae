"""Run Hendrycks & Dietterich's published CIFAR-10-C recipe and hessx's
corruptions on the same 32x32 images and print the mean change each makes.

The recipe is not copied here: pass the path of `make_cifar_c.py` from
hendrycks/robustness (ImageNet-C/create_c/, with its frost photographs
beside it). Its distortion functions are loaded with the few text patches
today's libraries need (channel_axis for multichannel, np.float64 for
np.float_, scipy.ndimage.map_coordinates, np.frombuffer); nothing else
changes. Needs numpy, scipy, scikit-image, opencv-python-headless, pillow,
wand and ImageMagick 6's libMagickWand (Debian: libmagickwand-6.q16-6).

    python compare_cifar_c.py make_cifar_c.py images.u8 [hessx.csv]

writes the test images to images.u8 (CHW bytes, 3x32x32 each) if missing,
and with hessx.csv (from `cargo run -p hessx-data --example corruption_stats
-- images.u8 3 32 32`) prints both side by side.
"""

import csv
import os
import sys

import numpy as np
from PIL import Image


def load_recipe(path):
    src = open(path).read()
    src = src[: src.index("# /////////////// End Distortions")]
    patches = [
        ("import torch\n", ""),
        ("import torchvision.datasets as dset\n", ""),
        ("import torchvision.transforms as trn\n", ""),
        ("import torch.utils.data as data\n", ""),
        ("multichannel=True", "channel_axis=-1"),
        ("np.float_", "np.float64"),
        ("from scipy.ndimage.interpolation import", "from scipy.ndimage import"),
        ("np.fromstring", "np.frombuffer"),
        ("'./frost", "FROST_DIR + '/frost"),
    ]
    for old, new in patches:
        assert old in src, old
        src = src.replace(old, new)
    scope = {"FROST_DIR": os.path.dirname(os.path.abspath(path)), "__name__": "recipe"}
    exec(compile(src, path, "exec"), scope)
    return scope


def test_images(n_per=6):
    """32x32 crops of scikit-image's bundled photographs, downscaled first."""
    from skimage import data, transform

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(0)
    out = []
    for p in photos:
        small = transform.resize(p, (96, int(96 * p.shape[1] / p.shape[0])), anti_aliasing=True)
        small = (small * 255).round().astype(np.uint8)
        for _ in range(n_per):
            y, x = rng.integers(0, small.shape[0] - 32), rng.integers(0, small.shape[1] - 32)
            out.append(small[y : y + 32, x : x + 32])
    return np.array(out)


NAMES = [
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate",
]


def main():
    recipe, images_path = sys.argv[1], sys.argv[2]
    if not os.path.exists(images_path):
        test_images().transpose(0, 3, 1, 2).astype(np.uint8).tofile(images_path)
    hwc = np.fromfile(images_path, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    fns = load_recipe(recipe)
    ours = {}
    if len(sys.argv) > 3:
        for row in csv.DictReader(open(sys.argv[3])):
            ours[(row["corruption"], int(row["severity"]))] = (float(row["mean_abs_change"]), float(row["mean_change"]))
    clean = hwc.astype(np.float64) / 255
    print(f"{len(hwc)} images; mean |change| and mean change on [0, 1] values")
    print(f"{'corruption':18} sev  recipe |d|  hessx |d|   ratio   recipe d   hessx d")
    for name in NAMES:
        for s in range(1, 6):
            np.random.seed(1000 * NAMES.index(name) + s)
            out = np.array([np.uint8(fns[name](Image.fromarray(im), s)) for im in hwc]).astype(np.float64) / 255
            d = out - clean
            a, m = np.abs(d).mean(), d.mean()
            o = ours.get((name, s))
            if o:
                print(f"{name:18} {s}    {a:.4f}      {o[0]:.4f}     {o[0] / a if a else float('nan'):5.2f}   {m:+.4f}   {o[1]:+.4f}")
            else:
                print(f"{name:18} {s}    {a:.4f}                            {m:+.4f}")


if __name__ == "__main__":
    main()
