"""Region boundaries: GeoJSON polygons checked and read with shapely."""

from django.utils.translation import gettext as _
from shapely.geometry import shape
from shapely.validation import explain_validity


def boundary_error(geojson: dict) -> str | None:
    """Why a GeoJSON boundary is unusable, or None when it is a valid polygon in China."""
    if not isinstance(geojson, dict) or geojson.get("type") not in {"Polygon", "MultiPolygon"}:
        return _("The boundary must be a GeoJSON Polygon or MultiPolygon.")
    try:
        geometry = shape(geojson)
    except Exception as exc:  # shapely raises several kinds for malformed coordinates
        return _("The boundary could not be read: %(error)s") % {"error": exc}
    if geometry.is_empty or not geometry.is_valid:
        return _("The boundary is not a valid polygon: %(reason)s") % {"reason": explain_validity(geometry)}
    minx, miny, maxx, maxy = geometry.bounds
    if not (73 <= minx and maxx <= 136 and 3 <= miny and maxy <= 54):
        return _("The boundary lies outside China (longitude 73–136, latitude 3–54, WGS-84).")
    return None
