"""The hand-in archive's name: one definition shared by the students' submit step and the
instructor's ``nbgrader zip_collect`` (``nbgrader_config.py`` imports :data:`ZIP_NAME_REGEXP`).

    two_layer_net--<student_id>--<timestamp>.zip      e.g. two_layer_net--jdoe--20261120T095812Z.zip

The timestamp is ISO 8601 basic format in UTC (``20261120T095812Z``) because nbgrader reads it
with ``dateutil``, which reads the older ``2026-11-20-09-58-12`` as a time with a UTC offset
(2026-11-20 21:00 UTC), marking on-time students hours late.
"""

from __future__ import annotations

from datetime import UTC, datetime

#: strftime/strptime format of the timestamp in hand-in names (always UTC, hence the Z)
ZIP_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
#: separator between the name's fields (student ids may contain single dashes)
SEPARATOR = "--"
#: ``FileNameCollectorPlugin.named_regexp`` matching every file extracted from such an archive
#: (nbgrader matches it against the full path ``…/extracted/<archive name>/<file>``)
ZIP_NAME_REGEXP = (
    r".*/(?P<assignment>[^/]+?)--(?P<student_id>[^/]+?)--"
    r"(?P<timestamp>[0-9]{8}T[0-9]{6}Z)/(?P<file_id>[^/]+)$"
)


def zip_name(assignment: str, student_id: str, when: datetime | None = None) -> str:
    """``<assignment>--<student_id>--<YYYYmmddTHHMMSSZ>.zip`` for a hand-in made at ``when``
    (default now; a naive ``when`` is taken as UTC)."""
    when = when or datetime.now(UTC)
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return f"{assignment}{SEPARATOR}{student_id}{SEPARATOR}{when.strftime(ZIP_TIME_FORMAT)}.zip"


def parse_timestamp(text: str) -> datetime:
    """The naive UTC datetime of a hand-in timestamp (``20261120T095812Z``)."""
    return datetime.strptime(text, ZIP_TIME_FORMAT)
