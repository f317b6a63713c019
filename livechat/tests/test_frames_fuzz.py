"""Thousands of generated frames against the real consumer: never a crash, an `error`
frame for anything that is not a known frame, and the socket still answers ping."""

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from livechat.consumers import parse_frame

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["type", "token", "body", "subject", "client_id", "x"]), json_values, max_size=5).map(json.dumps),
    st.fixed_dictionaries({"type": st.text(max_size=10)}).map(json.dumps),
    st.integers(min_value=1, max_value=3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(min_value=1, max_value=400).map(lambda n: "9" * n),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_parser_never_raises(raw):
    frame = parse_frame(raw)
    assert frame is None or (isinstance(frame, dict) and frame["type"] in {"ping", "auth", "message"})


@pytest.mark.sqlite
async def test_generated_frames_on_a_live_socket(sockets):
    """1,000 generated frames through the ASGI application on one socket."""
    ws = await sockets()
    examples = []

    @settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(frames)
    def collect(raw):
        examples.append(raw)

    collect()
    for raw in examples:
        raw = raw or " "  # the test communicator cannot send an empty text frame
        await ws.send_to(text_data=raw)
        # every frame gets exactly one answer: `error` for the unknown, and for a known
        # frame from a guest its own answer (pong, auth_failed/refresh, message_failed)
        answer = await ws.receive_json_from(timeout=3)
        while answer["type"] == "user_count":
            answer = await ws.receive_json_from(timeout=3)
        if parse_frame(raw) is None:
            assert answer == {"type": "error", "reason": "bad_request"}, raw
        else:
            assert answer["type"] in {"pong", "auth_failed", "refresh", "message_failed"}, (raw, answer)
    await ws.send_json_to({"type": "ping"})
    while (await ws.receive_json_from(timeout=5))["type"] != "pong":
        pass
