"""The scope rule for API views: every queryset comes from ``visible_to``, so other regions answer 404."""


class ScopedViewMixin:
    """For a view over a scoped model: list and detail see only the caller's scope."""

    queryset = None  # set per view; only its model and ordering are used

    def get_queryset(self):
        model = self.queryset.model
        return model.objects.visible_to(self.request.user).order_by(*self.queryset.query.order_by)
