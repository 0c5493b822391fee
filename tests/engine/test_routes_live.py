"""Routes at run time: added, disabled, enabled and removed while the engine runs."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest
from helpers import HOST, Server, echo, echo_roundtrip, flood, running, wait_until

from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route, RouteConflict, RouteError, UnknownRoute


async def refused(address: tuple[str, int]) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(*address), 5)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def rtt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.write(b"ping")
    await asyncio.wait_for(reader.readexactly(4), 5)
    return loop.time() - started


async def test_an_engine_without_routes_takes_one_on_port_0_and_names_it():
    async with Server(echo) as server, running(Engine([])) as engine:
        assert engine.routes == [] and engine.addresses == []
        bound = await engine.add_route(Route((HOST, 0), server.address))
        assert bound[1] != 0 and engine.addresses == [bound]
        assert await echo_roundtrip(bound, b"hello") == b"hello"
        second = await engine.add_route(Route((HOST, 0), server.address))
        assert [r.name for r in engine.routes] == ["main", "route2"]
        assert await echo_roundtrip(second, b"x" * 100_000) == b"x" * 100_000
        [first_state, _] = engine.route_states()
        assert first_state.listen == bound and first_state.enabled and first_state.limits is None
        assert [e.message for e in engine.events if e.kind == "route"][0].startswith(
            "route main added: 127.0.0.1:"
        )


async def test_connections_carry_their_route_name():
    async with Server(echo) as server, running(Engine([])) as engine:
        bound = await engine.add_route(Route((HOST, 0), server.address, "db:5432"))
        reader, writer = await asyncio.open_connection(*bound)
        try:
            await rtt(reader, writer)
            [conn] = engine.snapshot(connections=True).connections
            assert conn.route_name == "db:5432"
            assert conn.route == f"{HOST}:{bound[1]} -> {HOST}:{server.port}"
        finally:
            writer.close()


@pytest.mark.timeout(30)
async def test_disable_closes_the_listener_and_its_connections_and_enable_listens_again():
    async with Server(echo) as server, running(Engine([])) as engine:
        shaky = await engine.add_route(Route((HOST, 0), server.address, "shaky"))
        steady = await engine.add_route(Route((HOST, 0), server.address, "steady"))
        shaky_conn = await asyncio.open_connection(*shaky)
        steady_conn = await asyncio.open_connection(*steady)
        try:
            await rtt(*shaky_conn)
            await rtt(*steady_conn)
            await engine.set_route_enabled("shaky", False)
            # Its connection is closed (EOF), new connects are refused.
            assert await asyncio.wait_for(shaky_conn[0].read(), 5) == b""
            assert await refused(shaky)
            assert not engine.route_state("shaky").enabled
            # The other route's connection and listener are untouched.
            await rtt(*steady_conn)
            assert await echo_roundtrip(steady, b"still here") == b"still here"
            await engine.set_route_enabled("shaky", False)  # already disabled: nothing
            await engine.set_route_enabled("shaky", True)
            assert engine.route_state("shaky").listen == shaky
            assert await echo_roundtrip(shaky, b"back") == b"back"
            kinds = [e.message.split(":")[0] for e in engine.events if e.kind == "route"]
            assert kinds[-2:] == ["route shaky disabled", "route shaky enabled"]
        finally:
            shaky_conn[1].close()
            steady_conn[1].close()


async def test_remove_closes_the_listener_and_its_connections():
    async with Server(echo) as server, running(Engine([])) as engine:
        bound = await engine.add_route(Route((HOST, 0), server.address, "gone"))
        reader, writer = await asyncio.open_connection(*bound)
        try:
            await rtt(reader, writer)
            await engine.remove_route("gone")
            assert await asyncio.wait_for(reader.read(), 5) == b""
            assert await refused(bound)
            assert engine.routes == [] and engine.route_states() == []
            await wait_until(lambda: not engine.connections, 5, "the connection to close")
            with pytest.raises(UnknownRoute, match="no route named 'gone'; routes: none"):
                await engine.remove_route("gone")
            # Its name and address can be taken again.
            again = await engine.add_route(Route(bound, server.address, "gone"))
            assert again == bound
        finally:
            writer.close()


async def test_duplicates_and_bad_names_are_refused_and_leave_nothing_behind():
    async with Server(echo) as server, running(Engine([])) as engine:
        bound = await engine.add_route(Route((HOST, 0), server.address, "db"))
        with pytest.raises(RouteConflict, match="a route named 'db' exists already") as info:
            await engine.add_route(Route((HOST, 0), server.address, "db"))
        assert info.value.field == "name"
        with pytest.raises(RouteConflict, match="is route 'db'") as info:
            await engine.add_route(Route(bound, server.address, "other"))
        assert info.value.field == "listen"
        await engine.set_route_enabled("db", False)
        with pytest.raises(RouteConflict, match="disabled; it listens there when enabled"):
            await engine.add_route(Route(bound, server.address, "other"))
        # An address some other socket holds: the OS refuses, and that is a conflict too.
        with pytest.raises(RouteConflict, match="cannot listen on") as info:
            await engine.add_route(Route(server.address, server.address, "other"))
        assert info.value.field == "listen"
        for bad in ("a b", "x" * 65, "é", "a/b"):
            with pytest.raises(RouteError) as error:
                await engine.add_route(Route((HOST, 0), server.address, bad))
            assert error.value.field == "name" and "letters, digits" in error.value.accepted
        assert [r.name for r in engine.routes] == ["db"]
        with pytest.raises(UnknownRoute):
            await engine.set_route_enabled("nope", True)


async def test_enable_when_the_address_was_taken_meanwhile_stays_disabled():
    async with Server(echo) as server, running(Engine([])) as engine:
        bound = await engine.add_route(Route((HOST, 0), server.address, "db"))
        await engine.set_route_enabled("db", False)
        squatter = await asyncio.start_server(lambda r, w: w.close(), *bound)
        try:
            with pytest.raises(RouteConflict, match="cannot listen on") as info:
                await engine.set_route_enabled("db", True)
            assert info.value.field == "enabled"
            assert not engine.route_state("db").enabled
        finally:
            squatter.close()
            await squatter.wait_closed()
        await engine.set_route_enabled("db", True)
        assert await echo_roundtrip(bound, b"ok") == b"ok"


@pytest.mark.timeout(30)
async def test_route_limits_are_its_own_and_engine_changes_pass_it_by():
    slow = Limits().with_both({"latency": "60ms"})
    async with Server(echo) as server, running(Engine([Route((HOST, 0), server.address)])) as eng:
        own = await eng.add_route(Route((HOST, 0), server.address, "slow"), limits=slow)
        main_conn = await asyncio.open_connection(*eng.addresses[0])
        slow_conns = [await asyncio.open_connection(*own) for _ in range(2)]
        try:
            assert await rtt(*main_conn) < 0.06
            for conn in slow_conns:
                assert await rtt(*conn) >= 0.115
            # With link = shared, the route's connections share a pair of links of the
            # route's own; the other route's share the engine's.
            by_route: dict[str, list] = {}
            for conn in eng.connections.values():
                by_route.setdefault(conn.route_name, []).append(conn)
            first, second = by_route["slow"]
            assert first.downstream.link is second.downstream.link
            assert first.downstream.link is not eng.links["downstream"]
            assert first.downstream.link.shared
            assert by_route["main"][0].downstream.link is eng.links["downstream"]
            snapshot = eng.snapshot()
            assert snapshot.downstream.queue_capacity == 2 * 256 * 1024  # each link once

            eng.patch_limits({"downstream": {"latency": "30ms"}})
            assert eng.route_limits("slow") == slow
            assert eng.connection_limits(first.id) == slow
            assert eng.connection_limits(by_route["main"][0].id).downstream.latency == 30_000

            eng.set_route_limits("slow", None)  # back to the engine-wide limits
            assert eng.connection_limits(first.id) == eng.limits
            await wait_until(
                lambda: first.downstream.link is eng.links["downstream"], 5, "the move"
            )
            assert 0.025 < await rtt(*slow_conns[0]) < 0.06
            eng.set_route_limits("slow", slow)
            assert await rtt(*slow_conns[1]) >= 0.115
            # A connection override, dropped, goes back to its route's limits.
            eng.set_connection_limits(first.id, Limits())
            eng.set_connection_limits(first.id, None)
            assert eng.connection_limits(first.id) == slow
        finally:
            for _, writer in [main_conn, *slow_conns]:
                writer.close()


def open_fds() -> set[str]:
    """What the process's file descriptors point at ("socket:[123]", ...), by number."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            found.add(f"{fd} {os.readlink(f'/proc/self/fd/{fd}')}")
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in /proc")
@pytest.mark.timeout(60)
async def test_routes_come_and_go_under_traffic_and_no_socket_leaks():
    """Flooding downloads on a route that stays and on one that is disabled, enabled and
    removed, again and again: every socket the engine opened is closed at the end."""
    async with Server(flood) as server, running(Engine([])) as engine:
        steady = await engine.add_route(
            Route((HOST, 0), server.address, "steady"),
            limits=Limits().with_both({"rate": "20Mbit"}),
        )
        baseline = open_fds()
        tasks: list[asyncio.Task] = []
        received = {"steady": 0, "shaky": 0}

        async def download(address: tuple[str, int], key: str) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                reader, writer = await asyncio.open_connection(*address)
                try:
                    while chunk := await reader.read(65536):
                        received[key] += len(chunk)
                finally:
                    writer.close()

        tasks += [asyncio.create_task(download(steady, "steady")) for _ in range(3)]
        for round_ in range(4):
            shaky = await engine.add_route(Route((HOST, 0), server.address, "shaky"))
            tasks += [asyncio.create_task(download(shaky, "shaky")) for _ in range(3)]
            await wait_until(
                lambda: engine.route_state("shaky").connections_open == 3, 5, "shaky's clients"
            )
            await engine.set_route_enabled("shaky", False)
            await engine.set_route_enabled("shaky", True)
            tasks += [asyncio.create_task(download(shaky, "shaky")) for _ in range(2)]
            await wait_until(
                lambda: engine.route_state("shaky").connections_open == 2, 5, "new clients"
            )
            before = received["steady"]
            await engine.remove_route("shaky")
            await wait_until(
                lambda before=before: received["steady"] > before, 5, f"steady in round {round_}"
            )
        assert engine.route_state("steady").connections_open == 3
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await wait_until(lambda: not engine.connections, 10, "every connection to close")
        with contextlib.suppress(AssertionError):
            await wait_until(lambda: not open_fds() - baseline, 10, "the sockets to be closed")
        assert not open_fds() - baseline, "left open: the descriptors listed"
        assert received["shaky"] > 0


async def test_a_route_removed_while_being_enabled_leaves_no_listener():
    async with Server(echo) as server, running(Engine([])) as engine:
        bound = await engine.add_route(Route(("localhost", 0), server.address, "racy"))
        await engine.set_route_enabled("racy", False)
        # Enabling resolves "localhost" first: the removal lands while it waits.
        enabling = asyncio.create_task(engine.set_route_enabled("racy", True))
        await asyncio.sleep(0)
        await engine.remove_route("racy")
        with pytest.raises(UnknownRoute):
            await enabling
        assert await refused(bound)
