"""The UA-DETRAC object classes and weather conditions: the one place that defines them.

Class ids are the index in :data:`DETRAC_CLASSES` and are what detectors are trained on
and what ground truth uses everywhere in the project:

======  =========  ==============================================
 id      name       in UA-DETRAC's ``vehicle_type`` attribute
======  =========  ==============================================
 0       car        ``car``
 1       bus        ``bus``
 2       van        ``van``
 3       others     ``others`` (trucks, tankers, anything else)
======  =========  ==============================================

Later UA-DETRAC annotation releases label 13 fine-grained, capitalised types instead
(``Sedan``, ``Suv``, ``Taxi``, ``Hatchback``, ``Police``, ``Van``, ``MiniVan``, ``Bus``,
``Truck-Box-Large``, ``Truck-Box-Med``, ``Truck-Util``, ``Truck-Pickup``, ``Truck-Flatbed``).
:func:`map_vehicle_type` folds any spelling onto the four classes, case-insensitively,
through :data:`VEHICLE_TYPE_ALIASES`:

==========  ========================================================================
 class       raw ``vehicle_type`` values (any case)
==========  ========================================================================
 car         car, sedan, suv, taxi, hatchback, police, mpv, coupe, wagon
 bus         bus, minibus, coach
 van         van, minivan
 others      others, other, tanker, trailer, and every type starting with ``truck``
==========  ========================================================================

A type that is none of these maps to ``others``; the XML reader warns once per file.

Detectors pretrained on COCO (the paper's models by name, see
:mod:`cdio_stream.inference.registry`) predict COCO's 80 classes. For scoring they are
mapped by :data:`COCO_TO_DETRAC`: COCO ``car`` -> car, ``bus`` -> bus, ``truck`` -> others;
every other COCO class (person, bicycle, motorcycle, ...) is dropped. COCO has no van:
DETRAC vans come out as COCO car or truck, so per class a COCO model never scores a van;
score such models class-agnostically ("vehicle", ``models eval --class-agnostic``) to
judge localisation alone.

Weather values are spelled as in the dataset's ``sence_weather`` attribute.
"""

from __future__ import annotations

from cdio_stream.errors import DatasetError

__all__ = [
    "DETRAC_CLASSES",
    "WEATHERS",
    "CLASS_IDS",
    "VEHICLE_TYPE_ALIASES",
    "class_id",
    "class_name",
    "map_vehicle_type",
    "COCO_TO_DETRAC",
]

#: Vehicle types in class-id order (car=0, bus=1, van=2, others=3).
DETRAC_CLASSES: tuple[str, ...] = ("car", "bus", "van", "others")

#: The four weather conditions of UA-DETRAC (paper 4.1.1).
WEATHERS: tuple[str, ...] = ("sunny", "cloudy", "rainy", "night")

#: Vehicle type name -> class id.
CLASS_IDS: dict[str, int] = {name: i for i, name in enumerate(DETRAC_CLASSES)}


#: Lower-case raw ``vehicle_type`` -> class name (see the module docstring).
VEHICLE_TYPE_ALIASES: dict[str, str] = {
    **{t: "car" for t in ("car", "sedan", "suv", "taxi", "hatchback", "police", "mpv", "coupe", "wagon")},
    **{t: "bus" for t in ("bus", "minibus", "coach")},
    **{t: "van" for t in ("van", "minivan")},
    **{t: "others" for t in ("others", "other", "tanker", "trailer")},
}


#: COCO class id -> DETRAC class id, for detectors pretrained on COCO (module docstring).
COCO_TO_DETRAC: dict[int, int] = {2: CLASS_IDS["car"], 5: CLASS_IDS["bus"], 7: CLASS_IDS["others"]}


def map_vehicle_type(raw: str) -> tuple[str, bool]:
    """The class name for a raw ``vehicle_type``, and whether the type is a known one.

    Unknown types map to ``others`` (known=False) so that one odd label never rejects a file.
    """
    key = raw.strip().lower()
    if key in VEHICLE_TYPE_ALIASES:
        return VEHICLE_TYPE_ALIASES[key], True
    if key.startswith("truck"):
        return "others", True
    return "others", False


def class_id(vehicle_type: str) -> int:
    """Class id of a UA-DETRAC ``vehicle_type`` value; DatasetError for an unknown type."""
    try:
        return CLASS_IDS[vehicle_type]
    except KeyError:
        raise DatasetError(
            f"unknown vehicle type {vehicle_type!r} (expected one of {', '.join(DETRAC_CLASSES)})"
        ) from None


def class_name(cid: int) -> str:
    """Vehicle type name of a class id; DatasetError when out of range."""
    if not 0 <= cid < len(DETRAC_CLASSES):
        raise DatasetError(f"class id {cid} out of range 0..{len(DETRAC_CLASSES) - 1}")
    return DETRAC_CLASSES[cid]
