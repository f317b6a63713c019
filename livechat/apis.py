"""The room, message and search endpoints of version 2: one small API class per
operation; each parses its input, calls one service or selector, and answers."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttles import UserScopedThrottle
from chatapp.fields import AsciiIntegerField

from . import rooms, search, selectors, services, stream

BIG = 2**63 - 1


def _viewer(request):
    user = request.user
    return user if user is not None and user.is_authenticated else None


def _viewer_id(request):
    user = _viewer(request)
    return user.pk if user else None


def _signed_in(request) -> bool:
    return _viewer(request) is not None


def _service(fn, **kwargs):
    """Runs a service, turning its refusals into DRF's answers."""
    try:
        return fn(**kwargs)
    except services.NotFound:
        raise NotFound() from None
    except services.Forbidden:
        raise PermissionDenied() from None
    except rooms.RoomInvalid as exc:
        raise ValidationError(exc.errors) from None
    except services.MessageInvalid:
        raise ValidationError({"detail": "Out of bounds (subject 0..200, body 1..4000 characters, not only space)."}) \
            from None


def _visible_room(request, room_id):
    room = selectors.room_get_visible(room_id=room_id, user_id=_viewer_id(request))
    if room is None:
        raise NotFound()
    return room


def _query(serializer_class, request):
    params = serializer_class(data=request.query_params.dict())  # "limit=" is an error, not a default
    params.is_valid(raise_exception=True)
    return params.validated_data


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError({"detail": "A JSON object is expected."})
    return request.data


class _ThrottledWrites:
    """Throttles (per user) only the methods that change something."""

    throttle_scope_by_method: dict[str, str] = {}

    def get_throttles(self):
        scope = self.throttle_scope_by_method.get(self.request.method)
        return [UserScopedThrottle(scope)] if scope else []


class RoomListApi(_ThrottledWrites, APIView):
    throttle_scope_by_method = {"POST": "room_create"}

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "POST" else []

    @extend_schema(operation_id="rooms_list", responses={200: dict})
    def get(self, request):
        return Response({"rooms": selectors.room_list(user_id=_viewer_id(request), with_email=_signed_in(request))})

    @extend_schema(request=dict, responses={201: dict})
    def post(self, request):
        data = _body(request)
        room = _service(rooms.room_create, user=request.user, name=data.get("name"), kind=data.get("kind"),
                        topic=data.get("topic"))
        return Response(room, status.HTTP_201_CREATED)


class RoomDetailApi(_ThrottledWrites, APIView):
    throttle_scope_by_method = {"PATCH": "membership"}

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "PATCH" else []

    @extend_schema(responses={200: dict})
    def get(self, request, room_id):
        room = _visible_room(request, room_id)
        return Response(selectors.room_payload(room=room, with_email=_signed_in(request)))

    @extend_schema(request=dict, responses={200: dict})
    def patch(self, request, room_id):
        data = _body(request)
        return Response(_service(rooms.room_update, user=request.user, room_id=room_id, name=data.get("name"),
                                 topic=data.get("topic")))


class RoomJoinApi(_ThrottledWrites, APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope_by_method = {"POST": "membership"}

    @extend_schema(request=None, responses={200: dict})
    def post(self, request, room_id):
        return Response(_service(rooms.room_join, user=request.user, room_id=room_id))


class RoomLeaveApi(_ThrottledWrites, APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope_by_method = {"POST": "membership"}

    @extend_schema(request=None, responses={204: None})
    def post(self, request, room_id):
        _service(rooms.room_leave, user=request.user, room_id=room_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomMembersApi(_ThrottledWrites, APIView):
    throttle_scope_by_method = {"POST": "membership"}

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "POST" else []

    @extend_schema(responses={200: dict})
    def get(self, request, room_id):
        room = _visible_room(request, room_id)
        return Response({"members": selectors.room_members(room=room, with_email=_signed_in(request))})

    @extend_schema(request=dict, responses={201: None})
    def post(self, request, room_id):
        data = _body(request)
        _service(rooms.member_add, actor=request.user, room_id=room_id, user_id=data.get("user_id"))
        return Response(status=status.HTTP_201_CREATED)


class RoomMemberApi(_ThrottledWrites, APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope_by_method = {"DELETE": "membership"}

    @extend_schema(responses={204: None})
    def delete(self, request, room_id, user_id):
        _service(rooms.member_remove, actor=request.user, room_id=room_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DirectApi(_ThrottledWrites, APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope_by_method = {"POST": "direct_create"}

    @extend_schema(request=dict, responses={200: dict, 201: dict})
    def post(self, request):
        data = _body(request)
        room, created = _service(rooms.direct_open, user=request.user, user_ids=data.get("user_ids"))
        return Response(room, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RoomMessagesApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request, room_id):
        from history.apis import MessageListApi

        data = _query(MessageListApi.FilterSerializer, request)
        room = _visible_room(request, room_id)
        messages, has_more = selectors.message_page(
            limit=data["limit"], before=data.get("before"), after=data.get("after"),
            last_timestamp=data.get("lastTimestamp"), room_id=room.pk, with_email=_signed_in(request))
        return Response({"messages": messages, "has_more": has_more})


class RoomEventsApi(APIView):
    class FilterSerializer(serializers.Serializer):
        after = AsciiIntegerField(min_value=0, max_value=BIG)
        limit = AsciiIntegerField(required=False, min_value=1, max_value=500, default=200)

    @extend_schema(responses={200: dict, 410: dict})
    def get(self, request, room_id):
        data = _query(self.FilterSerializer, request)
        room = _visible_room(request, room_id)
        try:
            frames, has_more = stream.events_after(room=room, after=data["after"], limit=data["limit"],
                                                   with_email=_signed_in(request))
        except stream.EventsGone:
            return Response({"detail": "Events this old are no longer kept; reload the room's messages."},
                            status.HTTP_410_GONE)
        return Response({"events": frames, "has_more": has_more})


class RoomReadApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=dict, responses={204: None})
    def post(self, request, room_id):
        data = _body(request)
        _service(rooms.room_read, user=request.user, room_id=room_id, message_id=data.get("message_id"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageApi(_ThrottledWrites, APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope_by_method = {"PATCH": "edit"}

    @extend_schema(request=dict, responses={200: dict})
    def patch(self, request, message_id):
        data = _body(request)
        return Response(_service(services.message_edit, user=request.user, message_id=message_id,
                                 body=data.get("body"), subject=data.get("subject")))

    @extend_schema(responses={204: None})
    def delete(self, request, message_id):
        _service(services.message_delete, user=request.user, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReactionApi(_ThrottledWrites, APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope_by_method = {"PUT": "reaction", "DELETE": "reaction"}

    def _set(self, request, message_id, emoji, add):
        try:
            services.emoji_check(emoji)
        except services.MessageInvalid:
            raise ValidationError({"emoji": ["1 to 16 characters, no white space."]}) from None
        _service(services.reaction_set, user=request.user, message_id=message_id, emoji=emoji, add=add)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    def put(self, request, message_id, emoji):
        return self._set(request, message_id, emoji, True)

    @extend_schema(responses={204: None})
    def delete(self, request, message_id, emoji):
        return self._set(request, message_id, emoji, False)


class SearchApi(APIView):
    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(min_length=1, max_length=200, trim_whitespace=False)
        room_id = AsciiIntegerField(required=False, min_value=1, max_value=BIG)
        before = AsciiIntegerField(required=False, min_value=0, max_value=BIG)
        limit = AsciiIntegerField(required=False, min_value=1, max_value=50, default=20)

        def validate_q(self, value):
            if not value.strip() or "\x00" in value:
                raise serializers.ValidationError("Search for some words.")
            return value

    @extend_schema(responses={200: dict})
    def get(self, request):
        data = _query(self.FilterSerializer, request)
        if "room_id" in data:
            room_ids = [_visible_room(request, data["room_id"]).pk]
        else:
            room_ids = search.visible_room_ids(user_id=_viewer_id(request))
        results, has_more = search.message_search(q=data["q"], room_ids=room_ids, before=data.get("before"),
                                                  limit=data["limit"], with_email=_signed_in(request))
        return Response({"results": results, "has_more": has_more})


class UserSearchApi(APIView):
    permission_classes = [IsAuthenticated]

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(min_length=1, max_length=50, trim_whitespace=False)

        def validate_q(self, value):
            if not value.strip() or "\x00" in value:
                raise serializers.ValidationError("Type part of a name or an email.")
            return value

    @extend_schema(responses={200: dict})
    def get(self, request):
        data = _query(self.FilterSerializer, request)
        return Response({"users": selectors.users_search(q=data["q"].strip())})


