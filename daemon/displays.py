"""Is this picture the size of a whole display? A capture of a full screen is exactly as many
pixels as the display it was taken on; a scan or a camera photo almost never is (cameras save
4:3 or 3:2 frames at their sensor's size, and say so in EXIF)."""

from __future__ import annotations

from typing import Any

# Common display resolutions (landscape; portrait is the same turned): desktops and laptops,
# including the scaled "looks like" sizes of HiDPI laptops, then phones and tablets.
DISPLAYS = frozenset({
    # 4:3, 5:4
    (640, 480), (800, 600), (1024, 768), (1152, 864), (1280, 960), (1280, 1024), (1400, 1050),
    (1600, 1200), (2048, 1536),
    # 16:10
    (1280, 800), (1440, 900), (1680, 1050), (1920, 1200), (2304, 1440), (2560, 1600),
    (2880, 1800), (3072, 1920), (1470, 956), (1512, 982), (1728, 1117), (2560, 1664),
    (2880, 1864), (3024, 1964), (3456, 2234),
    # 16:9 and netbooks
    (854, 480), (960, 540), (1024, 576), (1024, 600), (1280, 720), (1360, 768), (1366, 768),
    (1536, 864), (1600, 900), (1920, 1080), (2560, 1440), (3200, 1800), (3840, 2160),
    (5120, 2880),
    # 3:2 and ultra-wide
    (1920, 1280), (2160, 1440), (2256, 1504), (2736, 1824), (2880, 1920), (3000, 2000),
    (2560, 1080), (3440, 1440), (3840, 1600),
    # phones
    (1280, 720), (1334, 750), (1920, 1080), (2208, 1242), (2436, 1125), (1792, 828),
    (2688, 1242), (2532, 1170), (2778, 1284), (2556, 1179), (2796, 1290), (2622, 1206),
    (2868, 1320), (2340, 1080), (2400, 1080), (2160, 1080), (2960, 1440), (3040, 1440),
    (3120, 1440), (3200, 1440), (1600, 720), (1520, 720),
    # tablets
    (2048, 1536), (2160, 1620), (2360, 1640), (2388, 1668), (2732, 2048), (2560, 1600),
    (1920, 1200), (2266, 1488), (2420, 1668), (2752, 2064),
})
_CAMERA_TAGS = (271, 272)     # EXIF Make, Model: a camera took it


def display_sized(width: int, height: int) -> bool:
    return (max(width, height), min(width, height)) in DISPLAYS


def taken_by_camera(image: Any) -> bool:
    try:
        exif = image.getexif()
    except Exception:        # no or broken EXIF: nothing says a camera took it
        return False
    return any(exif.get(tag) for tag in _CAMERA_TAGS)


def whole_screen(image: Any) -> bool:
    """The picture is a capture of a whole display: its size is a display's and no camera
    says it took it."""
    return display_sized(*image.size) and not taken_by_camera(image)
