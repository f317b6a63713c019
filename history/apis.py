from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from chatapp.fields import AsciiIntegerField
from rest_framework.response import Response
from rest_framework.views import APIView

from livechat.selectors import message_page

CURSORS = ("lastTimestamp", "before", "after")


class MessageListApi(APIView):
    """GET /api/messages: pages of history, oldest first. Readable anonymously;
    authors' emails only for signed-in viewers."""

    class FilterSerializer(serializers.Serializer):
        lastTimestamp = AsciiIntegerField(required=False, min_value=0, max_value=2**63 - 1)
        before = AsciiIntegerField(required=False, min_value=0, max_value=2**63 - 1)
        after = AsciiIntegerField(required=False, min_value=0, max_value=2**63 - 1)
        limit = AsciiIntegerField(required=False, min_value=1, max_value=100, default=50)

        def validate(self, attrs):
            given = [c for c in CURSORS if c in attrs]
            if len(given) > 1:
                raise serializers.ValidationError({"detail": f"At most one of {', '.join(CURSORS)}."})
            return attrs

    @extend_schema(
        parameters=[OpenApiParameter(name, int, required=False) for name in (*CURSORS, "limit")],
        responses={200: dict},
    )
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params.dict())  # "limit=" is an error, not a default
        params.is_valid(raise_exception=True)
        data = params.validated_data
        messages, has_more = message_page(
            limit=data["limit"],
            before=data.get("before"),
            after=data.get("after"),
            last_timestamp=data.get("lastTimestamp"),
            with_email=request.user is not None and request.user.is_authenticated,
        )
        return Response({"messages": messages, "has_more": has_more})
