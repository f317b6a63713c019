"""Two deployments on one Redis server, with different db indexes and no prefix set by
hand: no frame of one reaches the other (pub/sub channels ignore the db index, so each
deployment's prefix comes from its REDIS_URL's db)."""

import asyncio

import pytest

from tests.wsclient import ChatClient, register_and_login

pytestmark = [pytest.mark.timeout(180), pytest.mark.cluster]


async def test_two_deployments_sharing_one_redis_never_hear_each_other(cluster_factory):
    one = cluster_factory(replicas=2, port=8400, redis_db=3, database="chat_shared_one", CHAT_LAYER_PREFIX="")
    two = cluster_factory(replicas=2, port=8500, redis_db=4, database="chat_shared_two", CHAT_LAYER_PREFIX="")
    token_one, _ = register_and_login(one.url, "one@example.com", "One")
    token_two, _ = register_and_login(two.url, "two@example.com", "Two")
    listeners = [await ChatClient(f"ws://127.0.0.1:{m.port}/ws/chat").connect() for m in (*one.members, *two.members)]
    sender_one = await ChatClient(f"ws://127.0.0.1:{one.members[0].port}/ws/chat").connect(token_one)
    sender_two = await ChatClient(f"ws://127.0.0.1:{two.members[0].port}/ws/chat").connect(token_two)
    for n in range(20):
        await sender_one.send({"type": "message", "body": f"from one {n}", "client_id": f"o{n}"})
        await sender_two.send({"type": "message", "body": f"from two {n}", "client_id": f"t{n}"})
    for client in listeners:
        assert await client.wait(lambda c=client: len(c.messages) >= 20, 15), client.frames
    await asyncio.sleep(1.0)
    for client, mine in zip(listeners, ["one", "one", "two", "two"]):
        assert {m["body"].split()[1] for m in client.messages} == {mine}, client.messages
        assert len(client.messages) == 20
        client.assert_ordered_gap_free()
    await asyncio.gather(*(c.close() for c in [*listeners, sender_one, sender_two]))
