from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "civicgrid.cases"
    label = "cases"
    verbose_name = _("Cases")

    def ready(self) -> None:
        from django.utils import timezone

        from civicgrid.core.metrics import register_gauge

        from . import notifications
        from .models import OPEN_STATUSES, Case, Light
        from .selectors import light_q

        notifications.register()

        register_gauge(
            "civicgrid_cases_open",
            "Open cases (reported up to checking).",
            lambda: Case.objects.filter(status__in=OPEN_STATUSES).count(),
        )
        register_gauge(
            "civicgrid_cases_overdue",
            "Open cases whose current step is past its deadline (red light).",
            lambda: Case.objects.filter(light_q(Light.RED, timezone.now())).count(),
        )
