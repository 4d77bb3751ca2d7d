"""Launchers for real servers the tests run against (Redis, HAProxy, PostgreSQL): free loopback
ports, files in a temporary directory, stopped after."""
