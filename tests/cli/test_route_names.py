"""Route names on the command line: --name, --route [NAME=]LISTEN=UPSTREAM, the default
names, and what is refused (exit 2, naming the flag, the value and the accepted forms)."""

from __future__ import annotations

import pytest

from shaper.cli.flags import parse_routes, route_argv
from shaper.cli.main import build_parser


def routes_of(*argv: str):
    parser = build_parser()
    args = parser.parse_args(["serve", *argv])
    return parse_routes(args, args.parser), route_argv(args)


def test_default_names_follow_the_place_of_the_route():
    routes, _ = routes_of(
        "--listen",
        "15432",
        "--upstream",
        "127.0.0.1:5432",
        "--route",
        "16379=127.0.0.1:6379",
        "--route",
        "db=15433=127.0.0.1:5433",
        "--route",
        "[::1]:18080=[::1]:8080",
    )
    assert [r.name for r in routes] == ["main", "route2", "db", "route4"]
    assert routes[2].listen == ("127.0.0.1", 15433)
    assert routes[3].listen == ("::1", 18080) and routes[3].upstream == ("::1", 8080)


def test_without_listen_the_first_route_is_main_and_name_passes_to_a_child():
    routes, _ = routes_of("--route", "1=h:2", "--route", "3=h:4")
    assert [r.name for r in routes] == ["main", "route2"]
    routes, argv = routes_of("--listen", "1", "--upstream", "h:2", "--name", "127.0.0.1:6379")
    assert routes[0].name == "127.0.0.1:6379"
    assert argv[argv.index("--name") + 1] == "127.0.0.1:6379"


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["--listen", "1", "--upstream", "h:2", "--name", "a b"], ["--name", "'a b'", "letters"]),
        (["--listen", "1", "--upstream", "h:2", "--name", "x" * 65], ["--name", "1 to 64"]),
        (["--route", "sp ace=1=h:2"], ["--route", "'sp ace'", "letters"]),
        (["--route", "a=b=1=h:2"], ["--route", "[NAME=]LISTEN=UPSTREAM"]),
        (["--name", "db"], ["--name", "--listen"]),
        (
            ["--listen", "1", "--upstream", "h:2", "--name", "db", "--route", "db=3=h:4"],
            ["'db'", "twice", "routes 1 and 2"],
        ),
        (["--route", "route2=1=h:2", "--route", "3=h:4"], ["'route2'", "twice"]),
    ],
)
def test_bad_names_exit_2_saying_what_and_where(argv, mentions, capsys):
    with pytest.raises(SystemExit) as info:
        routes_of(*argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    for word in mentions:
        assert word in err, (word, err)
