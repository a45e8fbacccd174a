#!/usr/bin/env python3
"""Generate a calibration set for near-duplicate (perceptual hash) matching.

    python3 benches/matching/make_set.py OUT_DIR [--seed 7] [--jobs N] [--force]

writes into OUT_DIR (nothing is downloaded; every input comes from an
installed package, see benches/matching/README.md and setup.sh):

    originals/<id>.png          registered works, lossless, shorter side 512..1600 px
    img2dataset/<id>.jpg        img2dataset defaults: resize_mode "border", 256x256, JPEG 95
    center_crop_256/<id>.jpg    img2dataset resize_mode "center_crop", 256x256, JPEG 95
    short512_jpeg75/<id>.jpg    shorter side 512 (Pillow bicubic), JPEG 75
    short384_webp/<id>.webp     shorter side 384 (Pillow Lanczos), lossy WebP (Pillow default quality 80)
    short384_jpeg50/<id>.jpg    shorter side 384 (Pillow bilinear), JPEG 50
    lossless/<id>.webp          the same pixels as lossless WebP
    crop5/<id>.jpg              5 % cut from every side, JPEG 90
    brightness10/<id>.jpg       PIL.ImageEnhance.Brightness(1.1), JPEG 90
    grayscale/<id>.jpg          PIL convert("L"), JPEG 90
    distractors/<id>.jpg        other images (no registered work, no copy of one), JPEG 90
    manifest.json               what each file is, where it comes from, its licence

Originals:
  * tiles of wallpapers from Debian packages (gnome-backgrounds, lomiri-wallpapers-16.04,
    lomiri-wallpapers-20.04, mate-backgrounds, plasma-workspace-wallpapers, ukui-wallpapers):
    each source image is cut into non-overlapping rectangles (guillotine cuts), each
    rectangle is trimmed to an aspect ratio (4:3, 3:4, 16:9, 9:16, 1:1, 3:2, 2:3, 5:4, 4:5);
    up to two rectangles of a "registered" source become originals;
  * scikit-image's bundled sample images and matplotlib's grace_hopper.jpg;
  * procedural artworks (8 styles), seeded.
Distractors (look-alikes on purpose):
  * the other rectangles of the registered wallpapers (same photo or painting, disjoint region);
  * tiles of "held-out" wallpapers: about a third of each package's images, never registered;
  * procedural artworks of the same style and the same palette as a registered one, other seeds;
  * a few scikit-image images that are not registered.
  No distractor is a mirror, rotation or colour variant (e.g. the light/dark versions of a
  wallpaper) of a registered work: only one variant of each wallpaper is used at all.

Every step is seeded; a run with the same --seed and the same pinned package versions
(requirements.txt, Debian bookworm packages) gives the same pixels.
"""

import argparse
import hashlib
import importlib.util
import io
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import time

try:
    import cv2
    import numpy as np
    from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps
except ImportError as e:  # pragma: no cover - setup problem
    sys.exit(f"missing Python package ({e}); run: pip install -r benches/matching/requirements.txt")

Image.MAX_IMAGE_PIXELS = None  # the wallpapers are large but trusted package files

DEFAULT_SEED = 7
PINNED = {"numpy": "2.4.6", "pillow": "13.0.0", "opencv-python-headless": "4.14.0.94"}
APT_PACKAGES = [
    "gnome-backgrounds",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "mate-backgrounds",
    "plasma-workspace-wallpapers",
    "ukui-wallpapers",
]

ORIG_MIN_SHORT = 512
ORIG_MAX_SHORT = 1600
DIST_MIN_SHORT = 256
ORIGINALS_PER_WALLPAPER = 2
PROC_STYLES = ["blocks", "discs", "hills", "rays", "ink", "poster", "lowpoly", "gradient"]
PROC_ORIGINALS_PER_STYLE = 5
PROC_DISTRACTORS_PER_ORIGINAL = 8
# A tile whose 32x32 luminance thumbnail (the scale a DCT hash sees) has a standard
# deviation under this is nearly flat; it is neither registered nor used as distractor.
MIN_DETAIL_STD = 8.0
ASPECTS = [(4, 3), (3, 4), (16, 9), (9, 16), (1, 1), (3, 2), (2, 3), (5, 4), (4, 5)]
DIST_SHORT_SIDES = [256, 320, 384, 448, 512, 600, 720, 800, 960, 1080, 1200]

COPY_KINDS = [
    {"name": "img2dataset", "ext": "jpg",
     "what": "img2dataset 1.47.0 defaults (image_size 256, resize_mode 'border', "
             "resize_only_if_bigger False, downscale_interpolation 'area', upscale 'lanczos', "
             "encode_format jpg, encode_quality 95): OpenCV decode of the original PNG, "
             "longest side scaled to 256 with cv2.INTER_AREA (albumentations LongestMaxSize, "
             "new side = Python round(side * 256 / longest)), padded to 256x256 with white "
             "(255,255,255) (albumentations PadIfNeeded, position center: "
             "top/left = int(pad / 2)), cv2.imencode JPEG quality 95. Reproduced with OpenCV."},
    {"name": "center_crop_256", "ext": "jpg",
     "what": "img2dataset resize_mode 'center_crop': shorter side scaled to 256 with "
             "cv2.INTER_AREA (albumentations SmallestMaxSize), centre 256x256 crop "
             "(top/left = (side - 256) // 2), cv2.imencode JPEG quality 95. Reproduced with OpenCV."},
    {"name": "short512_jpeg75", "ext": "jpg",
     "what": "shorter side 512 (Pillow resize, BICUBIC = Pillow's default filter), JPEG quality 75"},
    {"name": "short384_webp", "ext": "webp",
     "what": "shorter side 384 (Pillow resize, LANCZOS), lossy WebP with Pillow's defaults (quality 80, method 4)"},
    {"name": "short384_jpeg50", "ext": "jpg",
     "what": "shorter side 384 (Pillow resize, BILINEAR, as torchvision's default), JPEG quality 50"},
    {"name": "lossless", "ext": "webp",
     "what": "the original's exact pixels re-encoded as lossless WebP (method 0); "
             "a grayscale original decodes as RGB with R=G=B"},
    {"name": "crop5", "ext": "jpg",
     "what": "round(5 %) of the width cut from the left and right and round(5 %) of the height "
             "from the top and bottom, full resolution, JPEG quality 90"},
    {"name": "brightness10", "ext": "jpg",
     "what": "PIL.ImageEnhance.Brightness(image).enhance(1.1), full resolution, JPEG quality 90"},
    {"name": "grayscale", "ext": "jpg",
     "what": "PIL Image.convert('L') (ITU-R 601-2 luma), full resolution, JPEG quality 90"},
]

# --------------------------------------------------------------------------------------
# Sources. Licences as stated by the packages' copyright files / metadata (checked for the
# Debian 12 "bookworm" versions named in setup.sh).
# (id, debian package, path, title, author, licence, category)

_GN = "/usr/share/backgrounds/gnome/"
_LO = "/usr/share/backgrounds/"
_MA = "/usr/share/backgrounds/mate/"
_PL = "/usr/share/wallpapers/"
_UK = "/usr/share/backgrounds/"
_GPL_MATE = "GPL-2+"
PACKAGE_LICENCE_NOTES = {
    "gnome-backgrounds": "licence as in the package's AUTHORS file",
    "lomiri-wallpapers-16.04": "licence per file in the package's copyright file",
    "lomiri-wallpapers-20.04": "licence per file in the package's copyright file",
    "mate-backgrounds": "licence per file in the package's copyright file",
    "plasma-workspace-wallpapers": "licence from the wallpaper's own metadata; the package's "
                                   "copyright file says GPL-2+ (KDE Visual Design Group) for all files",
    "ukui-wallpapers": "the package's copyright file: Ubuntu Kylin community contributors, CC BY-SA 3.0",
}

WALLPAPERS = [
    # gnome-backgrounds 43.1: AUTHORS lists these as (c) Jakub Steiner, CC BY-SA 3.0.
    # Only one of the light/dark variants of each is used.
    ("gnome-adwaita", "gnome-backgrounds", _GN + "adwaita-l.webp", "Adwaita (light)", "Jakub Steiner", "CC-BY-SA-3.0", "illustration"),
    ("gnome-grid", "gnome-backgrounds", _GN + "grid-d.webp", "Grid (dark)", "Jakub Steiner", "CC-BY-SA-3.0", "illustration"),
    ("gnome-pixels", "gnome-backgrounds", _GN + "pixels-l.webp", "Pixels (light)", "Jakub Steiner", "CC-BY-SA-3.0", "illustration"),
    ("gnome-symbolic", "gnome-backgrounds", _GN + "symbolic-l.webp", "Symbolic (light)", "Jakub Steiner", "CC-BY-SA-3.0", "illustration"),
    ("gnome-wood", "gnome-backgrounds", _GN + "wood-l.webp", "Wood (light)", "Jakub Steiner", "CC-BY-SA-3.0", "illustration"),
    # lomiri-wallpapers (Ubuntu Touch community wallpapers), debian/copyright per file.
    ("lomiri-aitzgorri", "lomiri-wallpapers-16.04", _LO + "aitzgorri_by_Aitzol_Berasategi.jpg", "aitzgorri", "Aitzol Berasategi", "CC-BY-4.0", "photo"),
    ("lomiri-analogpattern", "lomiri-wallpapers-16.04", _LO + "analogpattern_by_Peter_Nerlich.jpg", "analogpattern", "Peter Nerlich", "CC-BY-SA-4.0", "photo"),
    ("lomiri-bridge", "lomiri-wallpapers-16.04", _LO + "Bridge_by_Sander_Klootwijk.jpg", "Bridge", "Sander Klootwijk", "CC-BY-SA-4.0", "photo"),
    ("lomiri-dragonfly", "lomiri-wallpapers-16.04", _LO + "Dragonfly_by_Bolly.jpg", "Dragonfly", "Bolly", "CC-BY-SA-4.0", "photo"),
    ("lomiri-free", "lomiri-wallpapers-16.04", _LO + "free_by_Peter_Nerlich.jpg", "free", "Peter Nerlich", "CC-BY-SA-4.0", "photo"),
    ("lomiri-friends", "lomiri-wallpapers-16.04", _LO + "friends_by_Aitzol_Berasategi.jpg", "friends", "Aitzol Berasategi", "CC-BY-4.0", "photo"),
    ("lomiri-greentock", "lomiri-wallpapers-16.04", _LO + "greentock_by_Peter_Nerlich.jpg", "greentock", "Peter Nerlich", "CC-BY-SA-4.0", "photo"),
    ("lomiri-life", "lomiri-wallpapers-16.04", _LO + "life_by_Aitzol_Berasategi.jpg", "life", "Aitzol Berasategi", "CC-BY-4.0", "photo"),
    ("lomiri-picosdeeuropa", "lomiri-wallpapers-16.04", _LO + "picosdeeuropa_by_Aitzol_Berasategi.jpg", "picosdeeuropa", "Aitzol Berasategi", "CC-BY-4.0", "photo"),
    ("lomiri-picture0b", "lomiri-wallpapers-16.04", _LO + "Picture_0B_by_freespace.jpg", "Picture 0B", "Trevor \"Freespace\"", "CC-BY-4.0", "photo"),
    ("lomiri-picture1a", "lomiri-wallpapers-16.04", _LO + "Picture_1A_by_freespace.jpg", "Picture 1A", "Trevor \"Freespace\"", "CC-BY-4.0", "photo"),
    ("lomiri-seeding", "lomiri-wallpapers-16.04", _LO + "seeding_by_Clements_Engelhardt.jpg", "seeding", "Clemens Engelhardt", "CC0-1.0", "photo"),
    ("lomiri-sunset", "lomiri-wallpapers-16.04", _LO + "sunset_by_Aitzol_Berasategi.jpg", "sunset", "Aitzol Berasategi", "CC-BY-4.0", "photo"),
    ("lomiri-umang", "lomiri-wallpapers-16.04", _LO + "umang_by_Abhishek_Mudgal.jpg", "umang", "Abhishek Mudgal", "CC-BY-4.0", "illustration"),
    ("lomiri-wine", "lomiri-wallpapers-16.04", _LO + "Wine_by_Jakkub_Mede.jpg", "Wine", "Jakub Mede", "CC-BY-4.0", "photo"),
    ("lomiri-fossa", "lomiri-wallpapers-20.04", _LO + "Fossa_by_Jasper_Roks.jpg", "Fossa", "Jasper Roks", "CC-BY-SA-3.0", "illustration"),
    ("lomiri-infinite-sea", "lomiri-wallpapers-20.04", _LO + "Infinite-Sea_by_Aury88.jpg", "Infinite Sea", "Aury88", "CC-BY-SA-3.0", "photo"),
    ("lomiri-kleiber", "lomiri-wallpapers-20.04", _LO + "Kleiber_by_Lukas_Baubkus.jpg", "Kleiber", "Lukas Baubkus", "CC-BY-SA-3.0", "photo"),
    ("lomiri-painting-colors", "lomiri-wallpapers-20.04", _LO + "Painting-Colors_by__herobrine7gamer.jpg", "Painting Colors", "HEROBRINE7GAMER", "CC-BY-SA-3.0", "illustration"),
    # mate-backgrounds 1.26.0, debian/copyright per file. Transparent overlays (abstract/*.png,
    # Stripes) are not used; of the four Ubuntu-Mate colourways only "Cold"; of Elephants one size.
    ("mate-elephants", "mate-backgrounds", _MA + "abstract/Elephants_5640x3172.jpg", "Elephants", "Wyng Stancikaite", _GPL_MATE, "illustration"),
    ("mate-float", "mate-backgrounds", _MA + "desktop/Float-into-MATE.png", "Float into MATE", "Francois Vogelweith; Joseph Krieger", _GPL_MATE, "illustration"),
    ("mate-greentraditional", "mate-backgrounds", _MA + "desktop/GreenTraditional.jpg", "Green Traditional", "l0r4n0n", _GPL_MATE, "illustration"),
    ("mate-ubuntu-cold", "mate-backgrounds", _MA + "desktop/Ubuntu-Mate-Cold-no-logo.png", "Ubuntu MATE Cold", "Goce Mitevski", "CC-BY-SA-4.0", "illustration"),
    ("mate-aqua", "mate-backgrounds", _MA + "nature/Aqua.jpg", "Aqua", "Charles Barbin", _GPL_MATE, "photo"),
    ("mate-blinds", "mate-backgrounds", _MA + "nature/Blinds.jpg", "Blinds", "Lennart Poettering; Andrea Cimitan", _GPL_MATE, "photo"),
    ("mate-dune", "mate-backgrounds", _MA + "nature/Dune.jpg", "Dune", "Marco Cogoni; Hylke Bons", _GPL_MATE, "photo"),
    ("mate-freshflower", "mate-backgrounds", _MA + "nature/FreshFlower.jpg", "Fresh Flower", "Jens Ansorg", _GPL_MATE, "photo"),
    ("mate-garden", "mate-backgrounds", _MA + "nature/Garden.jpg", "Garden", "Charles Barbin", _GPL_MATE, "photo"),
    ("mate-greenmeadow", "mate-backgrounds", _MA + "nature/GreenMeadow.jpg", "Green Meadow", "Timothy Schellhase; Lapo Calamandrei", _GPL_MATE, "photo"),
    ("mate-ladybird", "mate-backgrounds", _MA + "nature/LadyBird.jpg", "Lady Bird", "Charles Barbin", _GPL_MATE, "photo"),
    ("mate-raindrops", "mate-backgrounds", _MA + "nature/RainDrops.jpg", "Rain Drops", "blackcombwhistler07", _GPL_MATE, "photo"),
    ("mate-storm", "mate-backgrounds", _MA + "nature/Storm.jpg", "Storm", "Sergey Nazarov", _GPL_MATE, "photo"),
    ("mate-twowings", "mate-backgrounds", _MA + "nature/TwoWings.jpg", "Two Wings", "Charles Barbin; Hylke Bons", _GPL_MATE, "photo"),
    ("mate-wood", "mate-backgrounds", _MA + "nature/Wood.jpg", "Wood", "Jean-Francois Fortin Tam", _GPL_MATE, "photo"),
    ("mate-yellowflower", "mate-backgrounds", _MA + "nature/YellowFlower.jpg", "Yellow Flower", "Charles Barbin", _GPL_MATE, "photo"),
    # plasma-workspace-wallpapers 5.27.5: debian/copyright says GPL-2+ (KDE Visual Design Group)
    # for all files; the licence below is each wallpaper's own metadata.json / metadata.desktop.
    # Only the largest landscape image of each; never the images_dark variants.
    ("plasma-altai", "plasma-workspace-wallpapers", _PL + "Altai/contents/images/5120x2880.png", "Altai", "Alesya Khoteeva", "CC-BY-SA-4.0", "illustration"),
    ("plasma-autumn", "plasma-workspace-wallpapers", _PL + "Autumn/contents/images/2560x1600.jpg", "Autumn", "RJ Quiralta", "LGPL-3.0", "illustration"),
    ("plasma-bythewater", "plasma-workspace-wallpapers", _PL + "BytheWater/contents/images/2560x1600.jpg", "By the water", "Maciej Wiklo", "LGPL-3.0", "photo"),
    ("plasma-canopee", "plasma-workspace-wallpapers", _PL + "Canopee/contents/images/3840x2160.png", "Canopee", "Ken Vermette", "LGPL-3.0", "illustration"),
    ("plasma-cascade", "plasma-workspace-wallpapers", _PL + "Cascade/contents/images/3840x2160.png", "Cascade", "Ken Vermette", "LGPL-3.0", "illustration"),
    ("plasma-cluster", "plasma-workspace-wallpapers", _PL + "Cluster/contents/images/3840x2160.png", "Cluster", "Ken Vermette", "LGPL-3.0", "illustration"),
    ("plasma-coldripple", "plasma-workspace-wallpapers", _PL + "ColdRipple/contents/images/2560x1600.jpg", "Cold Ripple", "Risto Saukonpaa", "LGPL-3.0", "photo"),
    ("plasma-colorfulcups", "plasma-workspace-wallpapers", _PL + "ColorfulCups/contents/images/2560x1600.jpg", "Colorful Cups", "Dmitri Popov", "LGPL-3.0", "illustration"),
    ("plasma-darkesthour", "plasma-workspace-wallpapers", _PL + "DarkestHour/contents/images/2560x1600.jpg", "Darkest Hour", "Risto Saukonpaa", "LGPL-3.0", "photo"),
    ("plasma-elarun", "plasma-workspace-wallpapers", _PL + "Elarun/contents/images/2560x1600.png", "Elarun", "Nuno Pinheiro", "LGPL-3.0", "illustration"),
    ("plasma-eveningglow", "plasma-workspace-wallpapers", _PL + "EveningGlow/contents/images/2560x1600.jpg", "Evening Glow", "Ian Hex", "LGPL-3.0", "photo"),
    ("plasma-fallenleaf", "plasma-workspace-wallpapers", _PL + "FallenLeaf/contents/images/2560x1600.jpg", "Fallen Leaf", "Martin Klapetek", "LGPL-3.0", "photo"),
    ("plasma-flow", "plasma-workspace-wallpapers", _PL + "Flow/contents/images/5120x2880.jpg", "Flow", "Sandra Smukaste", "CC-BY-SA-4.0", "illustration"),
    ("plasma-flyingkonqui", "plasma-workspace-wallpapers", _PL + "FlyingKonqui/contents/images/2560x1600.png", "Flying Konqui", "Timothee Giet", "LGPL-3.0", "illustration"),
    ("plasma-grey", "plasma-workspace-wallpapers", _PL + "Grey/contents/images/2560x1600.jpg", "Grey", "Sigi Sagi", "LGPL-3.0", "photo"),
    ("plasma-honeywave", "plasma-workspace-wallpapers", _PL + "Honeywave/contents/images/5120x2880.jpg", "Honeywave", "Ken Vermette", "CC-BY-SA-4.0", "illustration"),
    ("plasma-icecold", "plasma-workspace-wallpapers", _PL + "IceCold/contents/images/5120x2880.png", "Ice Cold", "Santiago Cezar", "CC-BY-SA-4.0", "illustration"),
    ("plasma-kay", "plasma-workspace-wallpapers", _PL + "Kay/contents/images/5120x2880.png", "Kay", "ruvkr", "CC-BY-SA-4.0", "illustration"),
    ("plasma-kite", "plasma-workspace-wallpapers", _PL + "Kite/contents/images/2560x1600.jpg", "Kite", "Risto Saukonpaa", "LGPL-3.0", "photo"),
    ("plasma-kokkini", "plasma-workspace-wallpapers", _PL + "Kokkini/contents/images/3840x2160.png", "Kokkini", "Ken Vermette", "LGPL-3.0", "illustration"),
    ("plasma-milkyway", "plasma-workspace-wallpapers", _PL + "MilkyWay/contents/images/5120x2880.png", "Milky Way", "ruvkr", "CC-BY-SA-4.0", "illustration"),
    ("plasma-onestandsout", "plasma-workspace-wallpapers", _PL + "OneStandsOut/contents/images/2560x1600.jpg", "One Stands Out", "Risto Saukonpaa", "LGPL-3.0", "photo"),
    ("plasma-opal", "plasma-workspace-wallpapers", _PL + "Opal/contents/images/3840x2160.png", "Opal", "Ken Vermette", "LGPL-3.0", "illustration"),
    ("plasma-pastelhills", "plasma-workspace-wallpapers", _PL + "PastelHills/contents/images/3200x2000.jpg", "Pastel Hills", "Lionel", "LGPL-3.0", "illustration"),
    ("plasma-patak", "plasma-workspace-wallpapers", _PL + "Patak/contents/images/5120x2880.png", "Patak", "Aron Kovacs", "CC-BY-SA-4.0", "illustration"),
    ("plasma-path", "plasma-workspace-wallpapers", _PL + "Path/contents/images/2560x1600.jpg", "Path", "Risto Saukonpaa", "LGPL-3.0", "photo"),
    ("plasma-safelanding", "plasma-workspace-wallpapers", _PL + "SafeLanding/contents/images/5120x2880.jpg", "Safe Landing", "Louis Durrant", "CC-BY-SA-4.0", "illustration"),
    ("plasma-shell", "plasma-workspace-wallpapers", _PL + "Shell/contents/images/5120x2880.jpg", "Shell", "Lucas Andrade", "CC-BY-SA-4.0", "illustration"),
    ("plasma-volna", "plasma-workspace-wallpapers", _PL + "Volna/contents/images/5120x2880.jpg", "Volna", "Nikita Babin", "CC-BY-SA-4.0", "illustration"),
    ("plasma-summer1am", "plasma-workspace-wallpapers", _PL + "summer_1am/contents/images/2560x1600.jpg", "summer 1am", "Risto Saukonpaa", "LGPL-3.0", "photo"),
    # ukui-wallpapers 20.04.3: debian/copyright "2013-2020 Ubuntu Kylin community contributors", CC BY-SA 3.0.
    ("ukui-2004default", "ukui-wallpapers", _UK + "2004default.jpg", "2004default", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-calla", "ukui-wallpapers", _UK + "calla.png", "calla", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-city", "ukui-wallpapers", _UK + "city.png", "city", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-desert", "ukui-wallpapers", _UK + "desert.png", "desert", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-firstgeneration", "ukui-wallpapers", _UK + "firstgeneration.jpg", "firstgeneration", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-fluent-color", "ukui-wallpapers", _UK + "fluent-color.png", "fluent-color", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-focal", "ukui-wallpapers", _UK + "focal-ubuntukylin.png", "focal-ubuntukylin", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-goldfish", "ukui-wallpapers", _UK + "goldfish.png", "goldfish", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-rhythm", "ukui-wallpapers", _UK + "rhythm.jpg", "rhythm", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-rollpaper", "ukui-wallpapers", _UK + "rollpaper.png", "rollpaper", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-string", "ukui-wallpapers", _UK + "string.jpg", "string", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
    ("ukui-the-mouse", "ukui-wallpapers", _UK + "the-mouse.jpg", "the-mouse", "Ubuntu Kylin community contributors", "CC-BY-SA-3.0", "illustration"),
]

# Images shipped inside pip packages (pooch is never used). (id, package, file under the
# package, title, licence, licence note from the package's docstrings, category, role)
STILLS = [
    ("skimage-astronaut", "scikit-image", "data/astronaut.png", "Astronaut Eileen Collins", "public-domain", "NASA image, no known copyright restrictions", "photo", "original"),
    ("skimage-camera", "scikit-image", "data/camera.png", "Camera man", "CC0-1.0", "CC0 by the photographer, Lav Varshney", "photo", "original"),
    ("skimage-brick", "scikit-image", "data/brick.png", "Brick wall texture", "CC0-1.0", "CC0Textures Bricks25", "photo", "original"),
    ("skimage-grass", "scikit-image", "data/grass.png", "Grass texture", "CC0-1.0", "CC0Textures grass", "photo", "original"),
    ("skimage-gravel", "scikit-image", "data/gravel.png", "Gravel texture", "CC0-1.0", "CC0Textures Gravel04", "photo", "original"),
    ("skimage-ihc", "scikit-image", "data/ihc.png", "Immunohistochemistry", "no-known-restrictions", "Center for Microscopy And Molecular Imaging; no known copyright restrictions", "photo", "original"),
    ("skimage-retina", "scikit-image", "data/retina.jpg", "Human retina", "CC0-1.0", "Mikael Haggstrom, CC0 1.0 Universal", "photo", "original"),
    ("skimage-hubble", "scikit-image", "data/hubble_deep_field.jpg", "Hubble eXtreme Deep Field", "public-domain", "NASA image, may be freely used in the public domain", "photo", "original"),
    ("skimage-cell", "scikit-image", "data/cell.png", "Cell floating in saline", "CC0-1.0", "Paul Mueller et al., CC0", "photo", "original"),
    ("skimage-coffee", "scikit-image", "data/coffee.png", "Coffee cup", "CC0-1.0", "CC0 by the photographer, Rachel Michetti", "photo", "original"),
    ("skimage-rocket", "scikit-image", "data/rocket.jpg", "Falcon 9 launch", "public-domain", "SpaceX, released into the public domain", "photo", "original"),
    ("mpl-grace-hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "Grace Hopper", "public-domain", "official US Navy photograph", "photo", "original"),
    ("skimage-chelsea", "scikit-image", "data/chelsea.png", "Chelsea the cat", "CC0-1.0", "CC0 by the photographer, Stefan van der Walt", "photo", "distractor"),
    ("skimage-coins", "scikit-image", "data/coins.png", "Greek coins from Pompeii", "no-known-restrictions", "Brooklyn Museum collection; no known copyright restrictions", "photo", "distractor"),
    ("skimage-clock", "scikit-image", "data/clock_motion.png", "Clock with motion blur", "public-domain", "released into the public domain by the photographer, Stefan van der Walt", "photo", "distractor"),
    ("skimage-horse", "scikit-image", "data/horse.png", "Horse silhouette", "CC0-1.0", "CC0 given by the owner, Andreas Preuss", "illustration", "distractor"),
    ("skimage-text", "scikit-image", "data/text.png", "Text on a page", "public-domain", "no known copyright restrictions, released into the public domain", "photo", "distractor"),
]

PALETTES = [
    ["#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51"],
    ["#111111", "#f5f1e6", "#d62828", "#1d3557", "#f1c40f"],
    ["#ff6b6b", "#feca57", "#48dbfb", "#1dd1a1", "#5f27cd"],
    ["#0b132b", "#1c2541", "#3a506b", "#5bc0be", "#f0f0f0"],
    ["#f8f3e6", "#2b2d42", "#8d99ae", "#ef233c", "#d9dde3"],
    ["#22223b", "#4a4e69", "#9a8c98", "#c9ada7", "#f2e9e4"],
    ["#003049", "#d62828", "#f77f00", "#fcbf49", "#eae2b7"],
    ["#606c38", "#283618", "#fefae0", "#dda15e", "#bc6c25"],
    ["#3d405b", "#81b29a", "#f2cc8f", "#e07a5f", "#f4f1de"],
    ["#5f0f40", "#9a031e", "#fb8b24", "#e36414", "#0f4c5c"],
    ["#240046", "#5e60ce", "#48bfe3", "#64dfdf", "#80ffdb"],
    ["#f72585", "#b5179e", "#7209b7", "#3a0ca3", "#4cc9f0"],
]

WORDS = [
    "harbour", "meridian", "lantern", "orchard", "quiet", "tide", "ember", "summit", "signal",
    "paper", "copper", "willow", "atlas", "canyon", "velvet", "north", "garden", "echo",
    "marble", "harvest", "pilot", "saffron", "island", "thunder", "cobalt", "meadow", "relay",
    "festival", "night", "market", "river", "open", "studio", "season", "autumn", "spring",
    "concert", "gallery", "frontier", "voyage", "horizon", "letter", "circle", "bloom", "static",
]

# --------------------------------------------------------------------------------------
# helpers


def rng_for(seed, name):
    """A numpy Generator that depends only on the run's seed and a stable name."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def dpkg_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                             capture_output=True, text=True, check=False)
        return out.stdout.strip() or None
    except OSError:
        return None


def load_rgb_or_l(path):
    """Open an image as RGB (or L when it has no colour), EXIF orientation applied,
    transparency flattened onto white. ICC profiles are ignored (raw pixel values)."""
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "P", "PA"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im).convert("RGB")
    elif im.mode in ("L", "I;16", "I", "1"):
        im = im.convert("L")
    elif im.mode != "RGB":
        im = im.convert("RGB")
    im.load()
    return im


def detail_std(im):
    """Standard deviation of the 32x32 luminance thumbnail (0..255)."""
    g = im.convert("L").resize((32, 32), Image.Resampling.BOX)
    return float(np.asarray(g, dtype=np.float64).std())


def short_side_size(w, h, short):
    if w <= h:
        return short, max(1, round(h * short / w))
    return max(1, round(w * short / h)), short


def resize_short(im, short, resample):
    w, h = im.size
    if min(w, h) == short:
        return im
    return im.resize(short_side_size(w, h, short), resample)


def guillotine(rng, rect, min_short, target_area):
    """Cut rect (x, y, w, h) into non-overlapping rectangles whose sides are >= min_short."""
    out = []
    stack = [rect]
    while stack:
        x, y, w, h = stack.pop()
        can_v = w >= 2 * min_short
        can_h = h >= 2 * min_short
        if (not can_v and not can_h) or w * h <= target_area * rng.uniform(0.7, 1.4):
            out.append((x, y, w, h))
            continue
        vertical = can_v and (not can_h or w * rng.uniform(0.8, 1.25) >= h)
        t = rng.uniform(0.35, 0.65)
        if vertical:
            s = int(np.clip(round(w * t), min_short, w - min_short))
            stack.append((x + s, y, w - s, h))
            stack.append((x, y, s, h))
        else:
            s = int(np.clip(round(h * t), min_short, h - min_short))
            stack.append((x, y + s, w, h - s))
            stack.append((x, y, w, s))
    return out


def aspect_crop(rng, rect, min_short):
    """The largest (or one of the three largest) sub-rectangle of rect with one of ASPECTS,
    at a random offset inside it; None if none has a shorter side >= min_short."""
    x, y, w, h = rect
    cands = []
    for aw, ah in ASPECTS:
        if w * ah >= h * aw:  # rect wider than aspect: full height
            ch, cw = h, int(h * aw // ah)
        else:
            cw, ch = w, int(w * ah // aw)
        if min(cw, ch) >= min_short:
            cands.append((cw * ch, cw, ch, (aw, ah)))
    if not cands:
        return None
    cands.sort(key=lambda c: (-c[0], c[3]))
    _, cw, ch, asp = cands[int(rng.integers(0, min(3, len(cands))))]
    ox = x + int(rng.integers(0, w - cw + 1))
    oy = y + int(rng.integers(0, h - ch + 1))
    return (ox, oy, cw, ch), asp


def jpeg_bytes(im, quality):
    b = io.BytesIO()
    im.save(b, format="JPEG", quality=quality)
    return b.getvalue()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# --------------------------------------------------------------------------------------
# copies


def img2dataset_resize(png_bytes, mode, size=256):
    """img2dataset 1.47.0 Resizer, defaults, reproduced with OpenCV (the library it uses):
    cv2.imdecode(IMREAD_UNCHANGED); border: albumentations LongestMaxSize(size, INTER_AREA when
    downscaling else INTER_LANCZOS4) then PadIfNeeded(size, size, BORDER_CONSTANT, white,
    position center); center_crop: SmallestMaxSize then CenterCrop; cv2.imencode JPEG 95."""
    img = cv2.imdecode(np.frombuffer(png_bytes, np.uint8), cv2.IMREAD_UNCHANGED)
    h, w = img.shape[:2]
    if mode == "border":
        downscale = max(w, h) > size
        scale = size / max(h, w)
    else:
        downscale = min(w, h) > size
        scale = size / min(h, w)
    interp = cv2.INTER_AREA if downscale else cv2.INTER_LANCZOS4
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) != (h, w):
        img = cv2.resize(img, (nw, nh), interpolation=interp)
    if mode == "border":
        top = int((size - nh) / 2.0) if nh < size else 0
        bottom = size - nh - top if nh < size else 0
        left = int((size - nw) / 2.0) if nw < size else 0
        right = size - nw - left if nw < size else 0
        if top or bottom or left or right:
            img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                     value=(255, 255, 255))
    else:
        y0, x0 = (nh - size) // 2, (nw - size) // 2
        img = img[y0:y0 + size, x0:x0 + size]
    ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), 95])
    assert ok
    return buf.tobytes()


def make_copies(out, oid, im, png_bytes):
    files = {}

    def put(kind, ext, data):
        rel = f"{kind}/{oid}.{ext}"
        write(os.path.join(out, rel), data)
        files[kind] = rel

    put("img2dataset", "jpg", img2dataset_resize(png_bytes, "border"))
    put("center_crop_256", "jpg", img2dataset_resize(png_bytes, "center_crop"))
    put("short512_jpeg75", "jpg", jpeg_bytes(resize_short(im, 512, Image.Resampling.BICUBIC), 75))
    b = io.BytesIO()
    resize_short(im, 384, Image.Resampling.LANCZOS).save(b, format="WEBP")  # Pillow default quality 80
    put("short384_webp", "webp", b.getvalue())
    put("short384_jpeg50", "jpg", jpeg_bytes(resize_short(im, 384, Image.Resampling.BILINEAR), 50))
    b = io.BytesIO()
    im.save(b, format="WEBP", lossless=True, quality=0, method=0)
    put("lossless", "webp", b.getvalue())
    w, h = im.size
    dx, dy = round(0.05 * w), round(0.05 * h)
    put("crop5", "jpg", jpeg_bytes(im.crop((dx, dy, w - dx, h - dy)), 90))
    put("brightness10", "jpg", jpeg_bytes(ImageEnhance.Brightness(im).enhance(1.1), 90))
    put("grayscale", "jpg", jpeg_bytes(im.convert("L"), 90))
    return files


def emit_original(out, oid, im, meta):
    b = io.BytesIO()
    im.save(b, format="PNG", compress_level=1)
    png = b.getvalue()
    rel = f"originals/{oid}.png"
    write(os.path.join(out, rel), png)
    entry = {"id": oid, "file": rel, "width": im.size[0], "height": im.size[1], "mode": im.mode}
    entry.update(meta)
    entry["copies"] = make_copies(out, oid, im, png)
    return entry


def emit_distractor(out, did, im, meta):
    rel = f"distractors/{did}.jpg"
    write(os.path.join(out, rel), jpeg_bytes(im, 90))
    entry = {"id": did, "file": rel, "width": im.size[0], "height": im.size[1], "mode": im.mode}
    entry.update(meta)
    return entry


def pick_dist_short(rng, short):
    allowed = [s for s in DIST_SHORT_SIDES if s <= short] or [short]
    return int(allowed[int(rng.integers(0, len(allowed)))])


# --------------------------------------------------------------------------------------
# jobs


def job_wallpaper(args):
    out, seed, src, role, pkg_version = args
    sid, pkg, path, title, author, licence, category = src
    rng = rng_for(seed, "wall:" + sid)
    img = load_rgb_or_l(path)
    W, H = img.size
    source = {"type": "debian-package", "package": pkg, "package_version": pkg_version,
              "path": path, "title": title, "author": author, "category": category,
              "source_size": [W, H]}
    res = {"originals": [], "distractors": [], "rejected_flat": 0}

    def dist_from(rect, did, look_alike, related, why):
        crop = aspect_crop(rng, rect, DIST_MIN_SHORT)
        if crop is None:
            return
        (x, y, w, h), asp = crop
        tile = img.crop((x, y, x + w, y + h))
        if detail_std(tile) < MIN_DETAIL_STD:
            res["rejected_flat"] += 1
            return
        tile = resize_short(tile, pick_dist_short(rng, min(w, h)), Image.Resampling.LANCZOS)
        meta = {"source": dict(source, region=[x, y, w, h], aspect=f"{asp[0]}:{asp[1]}"),
                "licence": licence, "look_alike": look_alike, "related_originals": related,
                "why": why}
        res["distractors"].append(emit_distractor(out, did, tile, meta))

    if role == "registered":
        leaves = guillotine(rng, (0, 0, W, H), ORIG_MIN_SHORT, W * H / int(rng.integers(4, 8)))
        order = [leaves[i] for i in rng.permutation(len(leaves))]
        pool = []
        for leaf in order:
            if len(res["originals"]) >= ORIGINALS_PER_WALLPAPER:
                pool.append(leaf)
                continue
            crop = aspect_crop(rng, leaf, ORIG_MIN_SHORT)
            if crop is None:
                pool.append(leaf)
                continue
            (x, y, w, h), asp = crop
            tile = img.crop((x, y, x + w, y + h))
            if detail_std(tile) < MIN_DETAIL_STD:
                res["rejected_flat"] += 1
                pool.append(leaf)
                continue
            short = min(w, h)
            target = min(short, ORIG_MAX_SHORT, int(rng.integers(640, ORIG_MAX_SHORT + 1)))
            if target < short:
                tile = resize_short(tile, target, Image.Resampling.LANCZOS)
            oid = f"w-{sid}-{len(res['originals']) + 1}"
            scaled = f"downscaled (Lanczos) from {w}x{h}" if target < short else None
            meta = {"source": dict(source, region=[x, y, w, h], aspect=f"{asp[0]}:{asp[1]}",
                                   scaled=scaled),
                    "licence": licence,
                    "licence_note": f"{title} by {author}, {licence}, from Debian package {pkg} "
                                    f"({PACKAGE_LICENCE_NOTES[pkg]}); a rectangle of the wallpaper"
                                    + (f", {scaled}" if scaled else "")}
            res["originals"].append(emit_original(out, oid, tile, meta))
        related = [o["id"] for o in res["originals"]]
        k = 0
        for leaf in pool:
            area = leaf[2] * leaf[3]
            for piece in guillotine(rng, leaf, 300, area / int(rng.integers(1, 4))):
                k += 1
                dist_from(piece, f"d-w-{sid}-{k:02d}", "same_source_disjoint_region", related,
                          "another region of the same wallpaper as the registered tiles "
                          "(same palette, texture and style), not overlapping any of them")
    else:
        leaves = guillotine(rng, (0, 0, W, H), 300, W * H / int(rng.integers(8, 14)))
        for k, leaf in enumerate(leaves, 1):
            dist_from(leaf, f"d-h-{sid}-{k:02d}", "held_out_source_same_collection", [],
                      f"tile of a wallpaper that is never registered, from the same package "
                      f"({pkg}) as registered ones: same collection, often the same artist and style")
    return res


def job_still(args):
    out, seed, item, pkg_dir, pkg_version = args
    sid, pkg, rel, title, licence, note, category, role = item
    path = os.path.join(pkg_dir, rel)
    img = load_rgb_or_l(path)
    w, h = img.size
    source = {"type": "pip-package", "package": pkg, "package_version": pkg_version,
              "path": os.path.join(os.path.basename(pkg_dir), rel), "title": title,
              "category": category, "source_size": [w, h]}
    res = {"originals": [], "distractors": [], "rejected_flat": 0}
    if role == "original":
        scaled = None
        if min(w, h) < ORIG_MIN_SHORT:
            img = resize_short(img, ORIG_MIN_SHORT, Image.Resampling.LANCZOS)
            scaled = "upscaled (Lanczos) to shorter side 512"
        elif min(w, h) > ORIG_MAX_SHORT:
            img = resize_short(img, ORIG_MAX_SHORT, Image.Resampling.LANCZOS)
            scaled = "downscaled (Lanczos) to shorter side 1600"
        meta = {"source": dict(source, region=[0, 0, w, h], scaled=scaled),
                "licence": licence,
                "licence_note": f"{title}: {note}, as stated by {pkg}'s sample data documentation"
                                + (f"; {scaled}" if scaled else "")}
        res["originals"].append(emit_original(out, sid, img, meta))
    else:
        meta = {"source": dict(source, region=[0, 0, w, h]), "licence": licence, "licence_note": note,
                "look_alike": "unrelated", "related_originals": [],
                "why": "another sample image of the same package as registered ones (same acquisition style), never registered"}
        res["distractors"].append(emit_distractor(out, "d-" + sid, img, meta))
    return res


# --------------------------------------------------------------------------------------
# procedural artworks. Every function draws in unit coordinates, so one seed gives the same
# composition at any size; a style + palette is a "family".


def _hex(c):
    return tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))


def _lum(c):
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _mix(a, b, t):
    return tuple(int(round(a[i] + (b[i] - a[i]) * t)) for i in range(3))


def _palette(pid):
    return sorted((_hex(c) for c in PALETTES[pid]), key=_lum)  # dark .. light


def art_blocks(rng, W, H, pal, s):
    img = Image.new("RGB", (W * s, H * s), pal[-1])
    d = ImageDraw.Draw(img)
    lw = max(2, int(0.012 * min(W, H))) * s
    leaves = []

    def split(r, depth):
        x0, y0, x1, y1 = r
        if depth >= 5 or (x1 - x0) * (y1 - y0) < 0.015 or (depth > 1 and rng.random() < 0.18 * depth):
            leaves.append(r)
            return
        if (x1 - x0) * W * rng.uniform(0.6, 1.6) > (y1 - y0) * H:
            t = x0 + (x1 - x0) * rng.uniform(0.25, 0.75)
            split((x0, y0, t, y1), depth + 1)
            split((t, y0, x1, y1), depth + 1)
        else:
            t = y0 + (y1 - y0) * rng.uniform(0.25, 0.75)
            split((x0, y0, x1, t), depth + 1)
            split((x0, t, x1, y1), depth + 1)

    split((0.0, 0.0, 1.0, 1.0), 0)
    for x0, y0, x1, y1 in leaves:
        col = pal[-1] if rng.random() < 0.55 else pal[int(rng.integers(1, len(pal) - 1))]
        d.rectangle([x0 * W * s, y0 * H * s, x1 * W * s, y1 * H * s], fill=col, outline=pal[0], width=lw)
    return img


def art_discs(rng, W, H, pal, s):
    bg = pal[0] if rng.random() < 0.5 else pal[-1]
    img = Image.new("RGB", (W * s, H * s), bg)
    d = ImageDraw.Draw(img)
    others = [c for c in pal if c != bg]
    n = int(rng.integers(8, 30))
    radii = np.sort(rng.uniform(0.03, 0.3, n))[::-1]
    m = min(W, H) * s
    for r in radii:
        cx, cy = rng.uniform(0, 1) * W * s, rng.uniform(0, 1) * H * s
        col = others[int(rng.integers(0, len(others)))]
        box = [cx - r * m, cy - r * m, cx + r * m, cy + r * m]
        if rng.random() < 0.25:
            d.ellipse(box, outline=col, width=max(2, int(r * m * 0.12)))
        else:
            d.ellipse(box, fill=col)
    return img


def _vgradient(W, H, top, bottom):
    t = np.linspace(0, 1, H)[:, None, None]
    a = np.array(top, dtype=np.float64)[None, None, :]
    b = np.array(bottom, dtype=np.float64)[None, None, :]
    g = a + (b - a) * t
    return Image.fromarray(np.repeat(g, W, axis=1).round().astype(np.uint8), "RGB")


def art_hills(rng, W, H, pal, s):
    img = _vgradient(W * s, H * s, pal[-1], pal[int(rng.integers(2, len(pal)))])
    d = ImageDraw.Draw(img)
    if rng.random() < 0.7:
        r = rng.uniform(0.05, 0.14) * min(W, H) * s
        cx, cy = rng.uniform(0.15, 0.85) * W * s, rng.uniform(0.1, 0.4) * H * s
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=pal[int(rng.integers(2, len(pal)))])
    layers = int(rng.integers(3, 7))
    xs = np.linspace(0, 1, 240)
    front, back = pal[0], pal[int(rng.integers(1, 3))]
    for i in range(layers):
        base = 0.35 + 0.6 * (i + 1) / (layers + 1)
        y = np.full_like(xs, base)
        for _ in range(3):
            y += rng.uniform(0.01, 0.07) * np.sin(2 * np.pi * (rng.uniform(0.5, 3.5) * xs + rng.uniform(0, 1)))
        col = _mix(back, front, i / max(1, layers - 1))
        pts = [(x * W * s, yy * H * s) for x, yy in zip(xs, y)] + [(W * s, H * s), (0, H * s)]
        d.polygon(pts, fill=col)
    return img


def art_rays(rng, W, H, pal, s):
    a, b = pal[int(rng.integers(0, 2))], pal[int(rng.integers(3, 5))]
    img = Image.new("RGB", (W * s, H * s), a)
    d = ImageDraw.Draw(img)
    cx, cy = rng.uniform(-0.2, 1.2) * W * s, rng.uniform(-0.2, 1.2) * H * s
    n = int(rng.integers(8, 24)) * 2
    R = 3 * max(W, H) * s
    off = rng.uniform(0, 2 * np.pi)
    for k in range(0, n, 2):
        t0, t1 = off + 2 * np.pi * k / n, off + 2 * np.pi * (k + 1) / n
        d.polygon([(cx, cy), (cx + R * np.cos(t0), cy + R * np.sin(t0)), (cx + R * np.cos(t1), cy + R * np.sin(t1))], fill=b)
    m = min(W, H) * s
    for j in range(int(rng.integers(1, 4))):
        r = m * rng.uniform(0.08, 0.35) / (j + 1)
        px, py = rng.uniform(0.2, 0.8) * W * s, rng.uniform(0.2, 0.8) * H * s
        d.ellipse([px - r, py - r, px + r, py + r], fill=pal[int(rng.integers(0, len(pal)))])
    return img


def art_ink(rng, W, H, pal, s):
    paper = _mix(pal[-1], (255, 255, 255), 0.6)
    img = Image.new("RGB", (W * s, H * s), paper)
    d = ImageDraw.Draw(img)
    ink = pal[0]
    for _ in range(int(rng.integers(2, 5))):  # hatched patches
        x0, y0 = rng.uniform(0, 0.8) * W * s, rng.uniform(0, 0.8) * H * s
        w, h = rng.uniform(0.1, 0.4) * W * s, rng.uniform(0.1, 0.4) * H * s
        layer = Image.new("L", img.size, 0)
        ld = ImageDraw.Draw(layer)
        step = max(4, int(rng.uniform(0.006, 0.02) * min(W, H) * s))
        for c in range(-int(h), int(w), step):
            ld.line([(x0 + c, y0 + h), (x0 + c + h, y0)], fill=255, width=s)
        mask = Image.new("L", img.size, 0)
        ImageDraw.Draw(mask).ellipse([x0, y0, x0 + w, y0 + h], fill=255)
        img.paste(_mix(ink, paper, 0.35), (0, 0), Image.fromarray(np.minimum(np.asarray(layer), np.asarray(mask))))
    t = np.linspace(0, 1, 60)[:, None]
    for _ in range(int(rng.integers(15, 45))):
        p = rng.uniform(-0.1, 1.1, (4, 2)) * [W * s, H * s]
        curve = ((1 - t) ** 3) * p[0] + 3 * ((1 - t) ** 2) * t * p[1] + 3 * (1 - t) * t ** 2 * p[2] + t ** 3 * p[3]
        d.line([tuple(q) for q in curve], fill=ink, width=int(rng.integers(1, 5)) * s, joint="curve")
    for _ in range(int(rng.integers(0, 30))):
        r = rng.uniform(0.002, 0.01) * min(W, H) * s
        cx, cy = rng.uniform(0, W * s), rng.uniform(0, H * s)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)
    return img


def _font(name, size):
    path = os.path.join(FONT_DIR, name) if FONT_DIR else None
    if path and os.path.exists(path):
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def art_poster(rng, W, H, pal, s):
    bg = pal[int(rng.integers(0, len(pal)))]
    img = Image.new("RGB", (W * s, H * s), bg)
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 4))):
        col = pal[int(rng.integers(0, len(pal)))]
        if rng.random() < 0.5:
            x0, y0 = rng.uniform(-0.1, 0.7) * W * s, rng.uniform(-0.1, 0.7) * H * s
            d.rectangle([x0, y0, x0 + rng.uniform(0.2, 0.8) * W * s, y0 + rng.uniform(0.1, 0.5) * H * s], fill=col)
        else:
            r = rng.uniform(0.15, 0.45) * min(W, H) * s
            cx, cy = rng.uniform(0, 1) * W * s, rng.uniform(0, 1) * H * s
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col)
    fg = max(pal, key=lambda c: abs(_lum(c) - _lum(bg)))
    font_name = ["DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf",
                 "DejaVuSans.ttf", "DejaVuSerif-Italic.ttf"][int(rng.integers(0, 5))]
    words = [WORDS[int(i)] for i in rng.choice(len(WORDS), 6, replace=False)]
    y = rng.uniform(0.06, 0.3) * H * s
    x = 0.07 * W * s
    for wd in words[:int(rng.integers(1, 3))]:
        wd = wd.upper()
        size = max(8, int(min(0.86 * W * s / (0.62 * len(wd)), 0.2 * H * s)))
        f = _font(font_name, size)
        tw = d.textlength(wd, font=f)
        if tw > 0.86 * W * s:  # shrink to fit the width
            size = max(8, int(size * 0.86 * W * s / tw))
            f = _font(font_name, size)
        d.text((x, y), wd, font=f, fill=fg)
        y += size * 1.05
    small = _font("DejaVuSans.ttf", max(8, int(0.035 * min(W, H) * s)))
    y = max(y + 0.03 * H * s, rng.uniform(0.6, 0.75) * H * s)
    for wd in words[2:]:
        line = f"{wd} {int(rng.integers(1, 31))}.{int(rng.integers(1, 13))}  {words[int(rng.integers(0, 2))]}"
        d.text((x, y), line, font=small, fill=fg)
        y += 0.05 * min(W, H) * s
    return img


def art_lowpoly(rng, W, H, pal, s):
    img = Image.new("RGB", (W * s, H * s), pal[0])
    d = ImageDraw.Draw(img)
    nx = int(rng.integers(6, 14))
    ny = max(3, round(nx * H / W))
    gx, gy = np.meshgrid(np.linspace(0, 1, nx + 1), np.linspace(0, 1, ny + 1))
    jit = rng.uniform(-0.35, 0.35, gx.shape + (2,))
    jit[0, :, 1] = jit[-1, :, 1] = 0
    jit[:, 0, 0] = jit[:, -1, 0] = 0
    px = (gx + jit[..., 0] / nx) * W * s
    py = (gy + jit[..., 1] / ny) * H * s
    ang = rng.uniform(0, 2 * np.pi)
    c1, c2 = pal[int(rng.integers(0, 2))], pal[int(rng.integers(3, 5))]
    for j in range(ny):
        for i in range(nx):
            a, b, c, e = (px[j, i], py[j, i]), (px[j, i + 1], py[j, i + 1]), (px[j + 1, i + 1], py[j + 1, i + 1]), (px[j + 1, i], py[j + 1, i])
            tris = [(a, b, c), (a, c, e)] if rng.random() < 0.5 else [(a, b, e), (b, c, e)]
            for tri in tris:
                mx = sum(p[0] for p in tri) / 3 / (W * s)
                my = sum(p[1] for p in tri) / 3 / (H * s)
                t = 0.5 + 0.5 * ((mx - 0.5) * np.cos(ang) + (my - 0.5) * np.sin(ang)) * 1.4
                t = float(np.clip(t + rng.normal(0, 0.08), 0, 1))
                d.polygon(tri, fill=_mix(c1, c2, t))
    return img


def art_gradient(rng, W, H, pal, s):
    w, h = max(8, W // 8), max(8, H // 8)
    yy, xx = np.mgrid[0:h, 0:w]
    xx, yy = xx / (w - 1), yy / (h - 1)
    ang = rng.uniform(0, 2 * np.pi)
    t = np.clip(0.5 + (xx - 0.5) * np.cos(ang) + (yy - 0.5) * np.sin(ang), 0, 1)[..., None]
    a = np.array(pal[int(rng.integers(0, 2))], float)
    b = np.array(pal[int(rng.integers(2, 5))], float)
    img = a + (b - a) * t
    for _ in range(int(rng.integers(2, 5))):
        col = np.array(pal[int(rng.integers(0, len(pal)))], float)
        cx, cy, sg = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.12, 0.4)
        wgt = rng.uniform(0.5, 1.0) * np.exp(-(((xx - cx) * W / H) ** 2 + (yy - cy) ** 2) / (2 * sg * sg))[..., None]
        img = img * (1 - wgt) + col * wgt
    small = Image.fromarray(np.clip(img.round(), 0, 255).astype(np.uint8), "RGB")
    big = np.asarray(small.resize((W, H), Image.Resampling.BICUBIC), dtype=np.int16)
    big = big + rng.integers(-2, 3, big.shape, dtype=np.int16)  # dither against banding
    return Image.fromarray(np.clip(big, 0, 255).astype(np.uint8), "RGB")


ART = {"blocks": art_blocks, "discs": art_discs, "hills": art_hills, "rays": art_rays,
       "ink": art_ink, "poster": art_poster, "lowpoly": art_lowpoly, "gradient": art_gradient}
ART_WHAT = {
    "blocks": "flat-colour rectangles separated by dark lines (Mondrian-like)",
    "discs": "flat-colour discs and rings on a plain ground",
    "hills": "layered hills under a gradient sky, optional sun",
    "rays": "sunburst rays with discs",
    "ink": "ink line drawing: Bezier strokes, dots and hatched patches on paper",
    "poster": "text poster: big title words and smaller lines over colour blocks (DejaVu fonts)",
    "lowpoly": "low-poly triangle mesh coloured by a two-colour gradient",
    "gradient": "smooth multi-colour gradient with soft colour blobs",
}
ORIG_PROC_SIZES = [(1024, 768), (768, 1024), (1280, 720), (720, 1280), (900, 900), (1200, 900),
                   (1600, 900), (1024, 1024), (1536, 1024), (1024, 1536), (800, 600), (600, 800)]


def render_art(style, pid, layout_seed, seed, W, H):
    rng = rng_for(seed, f"art:{style}:{pid}:{layout_seed}")
    pal = _palette(pid)
    if style == "gradient":
        return ART[style](rng, W, H, pal, 1)
    img = ART[style](rng, W, H, pal, 2)
    return img.reduce(2)  # 2x2 supersampling = anti-aliasing


def proc_families(seed):
    fams = []
    for si, style in enumerate(PROC_STYLES):
        pids = rng_for(seed, "proc-palettes:" + style).permutation(len(PALETTES))[:PROC_ORIGINALS_PER_STYLE]
        for k, pid in enumerate(pids):
            fams.append((style, int(pid), k))
    return fams


def job_proc_original(args):
    out, seed, (style, pid, k) = args
    rng = rng_for(seed, f"proc-size:{style}:{k}")
    W, H = ORIG_PROC_SIZES[int(rng.integers(0, len(ORIG_PROC_SIZES)))]
    img = render_art(style, pid, k * 100, seed, W, H)
    oid = f"p-{style}-{k + 1}"
    meta = {"source": {"type": "procedural", "generator": "benches/matching/make_set.py",
                       "style": style, "style_what": ART_WHAT[style], "palette": pid,
                       "layout_seed": k * 100, "category": "illustration"},
            "licence": "CC0-1.0",
            "licence_note": "generated by this script; fonts (poster style): DejaVu, bundled with matplotlib (Bitstream Vera licence)"}
    return {"originals": [emit_original(out, oid, img, meta)], "distractors": [], "rejected_flat": 0}


def job_proc_distractors(args):
    out, seed, (style, pid, k) = args
    rng = rng_for(seed, f"proc-dist-size:{style}:{k}")
    res = {"originals": [], "distractors": [], "rejected_flat": 0}
    for j in range(1, PROC_DISTRACTORS_PER_ORIGINAL + 1):
        short = DIST_SHORT_SIDES[int(rng.integers(0, len(DIST_SHORT_SIDES)))]
        aw, ah = ASPECTS[int(rng.integers(0, len(ASPECTS)))]
        W, H = (short, round(short * ah / aw)) if aw <= ah else (round(short * aw / ah), short)
        img = render_art(style, pid, k * 100 + j, seed, W, H)
        meta = {"source": {"type": "procedural", "generator": "benches/matching/make_set.py",
                           "style": style, "palette": pid, "layout_seed": k * 100 + j,
                           "category": "illustration"},
                "licence": "CC0-1.0", "look_alike": "procedural_same_family",
                "related_originals": [f"p-{style}-{k + 1}"],
                "why": f"same generator style ({style}) and same palette as the registered "
                       f"p-{style}-{k + 1}, another layout seed"}
        res["distractors"].append(emit_distractor(out, f"d-p-{style}-{k + 1}-{j}", img, meta))
    return res


def run_job(job):
    kind, args = job
    cv2.setNumThreads(1)
    fn = {"wall": job_wallpaper, "still": job_still, "proc_o": job_proc_original,
          "proc_d": job_proc_distractors}[kind]
    return fn(args)


# --------------------------------------------------------------------------------------

FONT_DIR = None


def main():
    global FONT_DIR
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="output directory (created; must be empty unless --force)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--force", action="store_true",
                    help="delete this script's own subfolders and manifest.json in OUT first")
    a = ap.parse_args()
    t0 = time.time()

    missing = [w[2] for w in WALLPAPERS if not os.path.exists(w[2])]
    skimage_dir, mpl_dir = package_dir("skimage"), package_dir("matplotlib")
    if missing:
        print(f"{len(missing)} wallpaper files are missing, e.g. {missing[0]}. Install them with:\n"
              f"  apt-get install -y --no-install-recommends {' '.join(APT_PACKAGES)}\n"
              f"(or run benches/matching/setup.sh)", file=sys.stderr)
        sys.exit(2)
    if not skimage_dir or not mpl_dir:
        print("scikit-image and matplotlib are needed for their bundled images:\n"
              "  pip install -r benches/matching/requirements.txt", file=sys.stderr)
        sys.exit(2)
    FONT_DIR = os.path.join(mpl_dir, "mpl-data", "fonts", "ttf")

    from importlib.metadata import version, PackageNotFoundError

    def pyver(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    versions = {n: pyver(n) for n in ["numpy", "pillow", "opencv-python-headless", "scikit-image", "matplotlib"]}
    for n, v in PINNED.items():
        if versions.get(n) != v:
            print(f"warning: {n} {versions.get(n)} is installed, requirements.txt pins {v}; "
                  f"pixels may differ from other runs", file=sys.stderr)
    deb_versions = {p: dpkg_version(p) for p in APT_PACKAGES}

    out = a.out
    kinds = [k["name"] for k in COPY_KINDS]
    subdirs = ["originals", "distractors"] + kinds
    if os.path.exists(out) and os.listdir(out):
        if not a.force:
            sys.exit(f"{out} is not empty; use --force to replace the set in it")
        for sd in subdirs:
            shutil.rmtree(os.path.join(out, sd), ignore_errors=True)
        if os.path.exists(os.path.join(out, "manifest.json")):
            os.remove(os.path.join(out, "manifest.json"))
    for sd in subdirs:
        os.makedirs(os.path.join(out, sd), exist_ok=True)

    # Hold out about a third of each package's wallpapers: they only give distractors.
    held = set()
    for pkg in sorted({w[1].replace("-16.04", "").replace("-20.04", "") for w in WALLPAPERS}):
        ids = sorted(w[0] for w in WALLPAPERS if w[1].startswith(pkg))
        perm = rng_for(a.seed, "holdout:" + pkg).permutation(len(ids))
        held.update(ids[i] for i in perm[:round(len(ids) / 3)])

    jobs = []  # (key, cost estimate, job)
    for w in WALLPAPERS:
        role = "heldout" if w[0] in held else "registered"
        cost = os.path.getsize(w[2]) / 1e6 + (3 if role == "registered" else 1)
        jobs.append((("wall", w[0]), cost, ("wall", (out, a.seed, w, role, deb_versions.get(w[1])))))
    for it in STILLS:
        d = skimage_dir if it[1] == "scikit-image" else mpl_dir
        jobs.append((("still", it[0]), 0.5, ("still", (out, a.seed, it, d, versions.get(it[1])))))
    for fam in proc_families(a.seed):
        jobs.append((("proc_o",) + fam, 1.0, ("proc_o", (out, a.seed, fam))))
        jobs.append((("proc_d",) + fam, 1.0, ("proc_d", (out, a.seed, fam))))

    results = {}
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][1])
    with multiprocessing.get_context("fork").Pool(max(1, a.jobs)) as pool:
        for i, res in zip(order, pool.imap(run_job, [jobs[i][2] for i in order], chunksize=1)):
            results[jobs[i][0]] = res

    originals, distractors, rejected = [], [], 0
    for key, _, _ in jobs:  # plan order: independent of scheduling
        r = results[key]
        originals += r["originals"]
        distractors += r["distractors"]
        rejected += r["rejected_flat"]

    counts = {"originals": len(originals), "distractors": len(distractors)}
    for k in kinds:
        counts[k] = sum(1 for o in originals if k in o["copies"])
    by_look = {}
    for d in distractors:
        by_look[d["look_alike"]] = by_look.get(d["look_alike"], 0) + 1
    manifest = {
        "generator": "benches/matching/make_set.py",
        "seed": a.seed,
        "python": platform.python_version(),
        "pip_versions": versions,
        "debian_packages": deb_versions,
        "layout": {"originals": "originals/<id>.png",
                   "copies": "<copy kind>/<id>.<ext> (same base name as the original)",
                   "distractors": "distractors/<id>.jpg (JPEG quality 90)"},
        "copy_kinds": [{"name": k["name"], "dir": k["name"], "ext": k["ext"], "what": k["what"]} for k in COPY_KINDS],
        "counts": counts,
        "distractors_by_look_alike": by_look,
        "tiles_rejected_as_flat": rejected,
        "flat_rule": f"a tile is skipped when the standard deviation of its 32x32 BOX-filtered "
                     f"luminance thumbnail is below {MIN_DETAIL_STD}",
        "held_out_wallpapers": sorted(held),
        "originals": originals,
        "distractors": distractors,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    dt = time.time() - t0
    print(json.dumps({"out": out, "seed": a.seed, "counts": counts,
                      "distractors_by_look_alike": by_look, "tiles_rejected_as_flat": rejected,
                      "seconds": round(dt, 1)}, indent=1))


if __name__ == "__main__":
    main()
