"""Self-test of the throw-away PostgreSQL and Redis servers used by the suite."""

from __future__ import annotations

import os

import pytest

from .servers import ServerUnavailable, start_postgres, start_redis, unavailable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_postgres_starts_answers_and_stops(tmp_path):
    import psycopg

    try:
        pg = start_postgres(tmp_path)
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        assert pg.url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
        assert pg.url.endswith("/portal_test")
        assert pg.admin_url.endswith("/postgres")
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            assert conn.execute("select current_database()").fetchone() == ("portal_test",)
            assert conn.execute("show fsync").fetchone() == ("off",)
            assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)
        print(f"postgres ready in {pg.startup_seconds:.2f}s")
        pid = pg.pid
        assert _alive(pid)
    finally:
        pg.stop()
    assert not _alive(pid)
    assert not pg.running
    pg.stop()  # idempotent
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.dsn, connect_timeout=2)


def test_postgres_url_works_with_sqlalchemy(tmp_path):
    import sqlalchemy as sa

    try:
        pg = start_postgres(tmp_path)
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        engine = sa.create_engine(pg.url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar() == 1
        engine.dispose()
    finally:
        pg.stop()


def test_redis_starts_answers_and_stops(tmp_path):
    import redis

    try:
        rs = start_redis(tmp_path)
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        assert rs.url.startswith("redis://127.0.0.1:")
        assert rs.url.endswith("/0")
        client = redis.Redis.from_url(rs.url)
        assert client.ping() is True
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
        print(f"redis ready in {rs.startup_seconds:.2f}s")
        pid = rs.pid
        assert _alive(pid)
    finally:
        rs.stop()
    assert not _alive(pid)
    assert not rs.running
    rs.stop()  # idempotent
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(rs.url, socket_connect_timeout=1).ping()
