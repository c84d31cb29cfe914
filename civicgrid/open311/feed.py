"""An Atom 1.0 feed of new and closed service requests (``GET requests.atom``).

The same projection as the other endpoints: service, number, description, times and a link to
the public case page; nothing about the reporter.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from civicgrid.cases.models import Status

from .mapping import Absolute, is_description_withheld
from .render import xml_text
from .selectors import FeedEvent

ATOM_CONTENT_TYPE = "application/atom+xml; charset=utf-8"


def request_feed(events: Sequence[FeedEvent], *, absolute: Absolute, feed_path: str) -> bytes:
    """The feed document: one entry per event, newest first. Summaries are plain text
    (escaped, since Atom1Feed marks them as HTML)."""
    feed = Atom1Feed(
        title=_("Service requests: new and closed"),
        link=absolute(reverse("web:public_cases")),
        description=_("The latest reported and closed service requests."),
        language=get_language(),
        feed_url=absolute(feed_path),
    )
    for event in events:
        case = event.case
        names = {"service": case.category.display_name, "number": case.number}
        if event.kind == "new":
            title = _("New: %(service)s %(number)s") % names
        else:
            title = _("Closed: %(service)s %(number)s") % names
        if case.status == Status.CANCELLED:  # no public page: link the Open311 record instead
            link = absolute(
                reverse("open311:request", kwargs={"request_id": case.number, "fmt": "xml"})
            )
        else:
            link = absolute(reverse("web:case", kwargs={"number": case.number}))
        at = timezone.localtime(event.at).replace(microsecond=0)
        summary = "" if is_description_withheld(case) else case.description
        feed.add_item(
            title=xml_text(title),
            link=link,
            description=escape(xml_text(summary)),
            unique_id=f"{link}#{event.kind}",
            unique_id_is_permalink=False,
            pubdate=at,
            updateddate=at,
        )
    return feed.writeString("utf-8").encode("utf-8")
